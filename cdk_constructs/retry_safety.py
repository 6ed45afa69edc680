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
from constructs import Construct, IConstruct, Node

from cdk_constructs.nag import LAMBDA_BASIC_EXECUTION, acknowledge_all
from cdk_constructs.options import ProtectedKind
from cdk_constructs.python_bundling import python_function_code

GUARD_TYPE = "Custom::CreateRollbackGuard"
UNPROTECT_ACTIONS: dict[ProtectedKind, str] = {
    ProtectedKind.RDS_CLUSTER: "rds:ModifyDBCluster",
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
            options = node.cfn_options
            if options.deletion_policy == CfnDeletionPolicy.RETAIN:
                options.deletion_policy = CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE


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

    def protect(
        self, id_: str, *, resource: CfnResource, kind: ProtectedKind, target: str, arn: str
    ) -> CustomResource:
        """Guard ``resource`` (``target``: what the unprotect call names: cluster identifier,
        load balancer ARN, table name or user pool id; ``arn``: the resource's ARN)."""
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
        path and dependencies are read once, not once per guard and scope level.
        """
        stack = Stack.of(self)
        own = self.node.path
        # Dependencies declared above the stack (stage, app) apply to everything in it.
        inherited = [
            path for scope in stack.node.scopes[:-1] for path in _dependency_paths(scope.node)
        ]
        dependencies: dict[str, list[str]] = {}
        """Construct path -> what it or any scope above it depends on (construct paths)."""
        candidates: list[tuple[CfnResource, str]] = []
        for construct in stack.node.find_all():  # parents before their children; no nested stacks
            node = construct.node
            path = node.path
            parent = dependencies.get(path.rpartition("/")[0], inherited)
            dependencies[path] = parent + _dependency_paths(node)
            if isinstance(construct, CfnResource) and not _within(path, own):
                candidates.append((construct, path))
        # CDK has no public reader of an L1 resource's properties; one resolve call for all.
        resolved = stack.resolve([resource._cfn_properties for resource, _ in candidates])
        properties_of = {
            path: json.dumps(properties)
            for (_, path), properties in zip(candidates, resolved, strict=True)
        }
        for guarded in self._guarded:
            target = guarded.resource.node.path
            logical_id = stack.resolve(guarded.resource.logical_id)
            for resource, path in candidates:
                if path != target and (
                    _refers_to(properties_of[path], logical_id)
                    or any(_within(target, dependency) for dependency in dependencies[path])
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
            ),
        )


def _within(path: str, scope: str) -> bool:
    """True when the construct at ``path`` is the one at ``scope`` or below it."""
    return path == scope or path.startswith(f"{scope}/")


def _dependency_paths(node: Node) -> list[str]:
    """The paths of what a construct depends on explicitly (``node.add_dependency``)."""
    return [dependency.node.path for dependency in node.dependencies]


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
