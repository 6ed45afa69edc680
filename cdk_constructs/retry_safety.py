"""A failed first create can be retried: nothing it created is left behind.

Two rules make that so (each test cites the documentation):

- ``Retain`` keeps a resource even when the create that made it rolls back, so the retry fails on
  its fixed name; ``RetainExceptOnCreate`` deletes it in that one case and retains it otherwise.
- CloudFormation cannot delete a resource whose deletion protection is on, so a stack whose first
  create fails after such a resource exists ends in ROLLBACK_FAILED. ``CreateRollbackGuard`` lifts
  the protection in exactly that case (see ``lambda_src/rollback_guard``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import (
    Aspects,
    CfnDeletionPolicy,
    CfnResource,
    CustomResource,
    Duration,
    IAspect,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from cdk_constructs.nag import DEPLOY_TIME_FUNCTION, LAMBDA_BASIC_EXECUTION, acknowledge_all
from cdk_constructs.options import ProtectedKind
from cdk_constructs.python_bundling import python_function_code
from cdk_constructs.tree_reads import ConstructTree, node_key

GUARD_TYPE = "Custom::CreateRollbackGuard"


@dataclass(frozen=True)
class ProtectedResource:
    """A deletion-protected resource the stack's create-rollback guard must be able to lift."""

    id_: str
    """The guard's construct id."""
    resource: CfnResource
    kind: ProtectedKind
    target: str
    """What the unprotect call names: cluster identifier, load balancer ARN, table name or user
    pool id."""
    arn: str


UNPROTECT_ACTIONS: dict[ProtectedKind, str] = {
    ProtectedKind.RDS_CLUSTER: "rds:ModifyDBCluster",
    ProtectedKind.RDS_INSTANCE: "rds:ModifyDBInstance",
    ProtectedKind.LOAD_BALANCER: "elasticloadbalancing:ModifyLoadBalancerAttributes",
    ProtectedKind.DYNAMODB_TABLE: "dynamodb:UpdateTable",
    ProtectedKind.USER_POOL: "cognito-idp:UpdateUserPool",
}
"""The one call per kind that turns deletion protection off (granted on that resource only)."""


@jsii.implements(IAspect)
class RetainExceptOnCreate:
    """Turns every ``Retain`` deletion policy, ours or one CDK chose, into
    ``RetainExceptOnCreate``: retained on update and delete, deleted when its own create rolls
    back (CDK: ``RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE``)."""

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, CfnResource):
            # The options are a jsii interface proxy, whose attributes ask node twice per read
            # or write (hasattr, then getattr or setattr); jsii.get and jsii.set ask once.
            options = node.cfn_options
            if jsii.get(options, "deletionPolicy") == CfnDeletionPolicy.RETAIN:
                jsii.set(options, "deletionPolicy", CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE)


@dataclass(frozen=True)
class _Guarded:
    resource: CfnResource
    guard: CustomResource


class CreateRollbackGuard(Construct):
    """One function per stack, and one custom resource per deletion-protected resource.

    Each guard is created right after its resource, and everything else in the stack that refers
    to or depends on that resource waits for the guard: whatever fails after the protected
    resource exists fails after its guard exists, and a rollback deletes the guard (which lifts
    the protection) before the resource.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        package_dir: Path,
        bundle_cache_dir: Path,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=log_retention, removal_policy=removal_policy
        )
        runtime = lambda_.Runtime.PYTHON_3_14
        architecture = lambda_.Architecture.ARM_64
        self.function = lambda_.Function(
            self,
            "Function",
            description="Lifts deletion protection when this stack's first create rolls back",
            runtime=runtime,
            architecture=architecture,
            code=python_function_code(
                package_dir,
                runtime=runtime,
                architecture=architecture,
                cache_dir=bundle_cache_dir,
            ),
            handler=f"{package_dir.name}.handler.on_event",
            timeout=Duration.minutes(2),
            memory_size=256,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id]
            )
        )
        self._guarded: list[_Guarded] = []
        self._acknowledge_findings()
        # On the guard itself, not the stack: the aspect visits only this construct's subtree.
        Aspects.of(self).add(_OrderAfterGuards(self))

    def protect(self, protected: ProtectedResource) -> CustomResource:
        """Guard ``protected.resource``; the guard's construct id is ``protected.id_``."""
        id_, resource, kind = protected.id_, protected.resource, protected.kind
        target, arn = protected.target, protected.arn
        guard = CustomResource(
            self,
            id_,
            service_token=self.function.function_arn,
            resource_type=GUARD_TYPE,
            properties={"Kind": kind.value, "Target": target},
        )
        guard.node.add_dependency(resource)
        # A policy of its own, which only this guard waits for: in the function's default policy
        # it would make the function, and so every guard, wait for every protected resource.
        permission = iam.Policy(
            self,
            f"{id_}Permission",
            statements=[iam.PolicyStatement(actions=[UNPROTECT_ACTIONS[kind]], resources=[arn])],
        )
        role = self.function.role
        assert role is not None  # a Function always has one
        permission.attach_to_role(role)
        guard.node.add_dependency(permission)
        self._guarded.append(_Guarded(resource=resource, guard=guard))
        return guard

    def order_dependents(self) -> None:
        """Make every resource of the stack that refers to or depends on a guarded resource wait
        for that resource's guard (run once, when the whole stack is built).

        One pass over the stack: every jsii call is a round trip to node, so each construct's
        dependencies are read once, not once per guard and scope level, and no path is read:
        the stack's constructs listed in preorder and in postorder give the tree's shape.
        """
        stack = Stack.of(self)
        tree = ConstructTree(stack)
        own = node_key(self)
        # Dependencies declared above the stack (stage, app) apply to everything in it.
        inherited = [
            dependency for scope in stack.node.scopes[:-1] for dependency in _dependencies(scope)
        ]
        dependencies: dict[str, list[IConstruct]] = {}
        """Construct -> what it or any scope above it depends on."""
        candidates: list[CfnResource] = []
        ancestors: list[str] = []  # of the construct at hand, nearest last
        for construct in tree.preorder:
            key = node_key(construct)
            while ancestors and not tree.contains(ancestors[-1], key):
                ancestors.pop()
            above = dependencies[ancestors[-1]] if ancestors else inherited
            dependencies[key] = above + _dependencies(construct)
            ancestors.append(key)
            if isinstance(construct, CfnResource) and not tree.contains(own, key):
                candidates.append(construct)
        # CDK has no public reader of an L1 resource's properties; one resolve call for all.
        resolved = stack.resolve([resource._cfn_properties for resource in candidates])
        properties_of = {
            node_key(resource): json.dumps(properties)
            for resource, properties in zip(candidates, resolved, strict=True)
        }
        for guarded in self._guarded:
            target = node_key(guarded.resource)
            logical_id = stack.resolve(guarded.resource.logical_id)
            for resource in candidates:
                key = node_key(resource)
                if key != target and (
                    _refers_to(properties_of[key], logical_id)
                    or any(tree.holds(dependency, target) for dependency in dependencies[key])
                ):
                    resource.node.add_dependency(guarded.guard)

    def _acknowledge_findings(self) -> None:
        acknowledge_all(
            self.function,
            (
                (
                    "Serverless-LambdaDLQ",
                    "Invoked by CloudFormation for a custom resource, which keeps the event.",
                ),
                (
                    f"AwsSolutions-IAM4[{LAMBDA_BASIC_EXECUTION}]",
                    "Writes only its own log group; every other action is named on one resource.",
                ),
                (
                    "AwsSolutions-IAM5[Resource::*]",
                    "X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level "
                    "permissions.",
                ),
                *DEPLOY_TIME_FUNCTION,
            ),
        )


def _dependencies(construct: IConstruct) -> list[IConstruct]:
    """What a construct depends on explicitly (``node.add_dependency``)."""
    return construct.node.dependencies


def _refers_to(properties: str, logical_id: str) -> bool:
    """True when resolved properties (as JSON) name ``logical_id`` with ``Ref``/``Fn::GetAtt``."""
    return f'{{"Ref": "{logical_id}"}}' in properties or (
        f'{{"Fn::GetAtt": ["{logical_id}", ' in properties
    )


@jsii.implements(IAspect)
class _OrderAfterGuards:
    """Runs ``order_dependents`` once, after every construct of the stack exists."""

    def __init__(self, guard: CreateRollbackGuard) -> None:
        self.guard = guard

    def visit(self, node: IConstruct) -> None:
        if node is self.guard:  # jsii hands back the very object: no round trip to compare
            self.guard.order_dependents()
