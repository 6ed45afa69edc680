"""The policies every resource of an environment gets, applied in one pass at synth time."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Aspects, CfnDeletionPolicy, CfnResource, IAspect, RemovalPolicy, Stack, Stage
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct, IConstruct

from cdk_constructs.logging import FunctionLogGroups
from cdk_constructs.tree_reads import ConstructTree, node_key, resource_type

LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
RETAIN = "Retain"
"""``CfnDeletionPolicy.RETAIN`` as a resolved template (and so ``Stack.resolve``) spells it."""


class EnvironmentPolicies(Construct):
    """Does, in one pass at synth time, what the aspects ``FunctionLogGroups`` and then
    ``RetainExceptOnCreate`` do when added to the scope this is created in, to the same
    templates; then gives every log group a name under ``log_group_prefix`` where it has none
    (``<prefix>/<tier>/<logical id>``: a replaced group gets a new name) and ``log_key``
    where it has no key, so the key's policy can name the groups it admits.

    Why: CDK calls an aspect once per construct, and from Python each call, and each property
    the aspect reads, is a round trip to node (see ``tree_reads``): the two aspects cost ~1,700
    per stage of ~450 constructs. Here one aspect, on this construct alone (it has no children),
    runs ``apply`` when aspects run, and that reads about one property per L1 resource.

    It runs when the aspects reach it, after the subtrees of the siblings made before it: make
    it last in its scope, so it also sees what other aspects add there.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        log_group_prefix: str,
        log_key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, id_)
        self.log_groups = FunctionLogGroups(retention=retention, removal_policy=removal_policy)
        self.log_group_prefix = log_group_prefix
        self.log_key = log_key
        self._applied = False
        Aspects.of(self).add(_ApplyWhenVisited(self))

    def apply(self) -> None:
        """Each L1 resource of the scope in the aspects' order (a construct before its
        children): its function log group, then ``Retain`` becomes ``RetainExceptOnCreate``;
        then the resources made meanwhile, as the aspects' next pass over new constructs."""
        if self._applied:
            return
        self._applied = True
        scope = self.node.scope
        assert scope is not None  # made with a scope
        resources = _resources_of(scope)
        options, retained = _deletion_policies(resources)
        for resource in resources:
            self._apply_to(resource, options, retained)
        known = {node_key(resource) for resource in resources}
        every = _resources_of(scope)
        for resource in every:
            if node_key(resource) not in known:
                self._apply_to(resource, options, retained)
        for resource in every:
            if resource_type(resource) == LOG_GROUP_TYPE:
                self._name_and_encrypt(resource)

    def _name_and_encrypt(self, group: CfnResource) -> None:
        """A fixed name under the prefix and the key, unless the group has its own."""
        stack = Stack.of(group)
        if isinstance(group, logs.CfnLogGroup):
            name, key = group.log_group_name, group.kms_key_id
        else:  # a group of a CDK core construct (a raw CfnResource)
            properties = group._cfn_properties
            name, key = properties.get("LogGroupName"), properties.get("KmsKeyId")
        new_name = None
        if name is None or stack.resolve(name) is None:  # L2s hold a lazy physical name
            logical_id = stack.resolve(stack.get_logical_id(group))
            new_name = f"{self.log_group_prefix}/{stack.node.id.lower()}/{logical_id}"
        new_key = self.log_key.key_arn if key is None and self.log_key is not None else None
        if isinstance(group, logs.CfnLogGroup):
            # The L1's own properties, which checks that read the tree (cdk-nag) see too.
            if new_name is not None:
                group.log_group_name = new_name
            if new_key is not None:
                group.kms_key_id = new_key
            return
        if new_name is not None:
            group.add_property_override("LogGroupName", new_name)
        if new_key is not None:
            group.add_property_override("KmsKeyId", new_key)

    def _apply_to(
        self, resource: CfnResource, options: dict[str, Any], retained: dict[str, bool]
    ) -> None:
        touched = self.log_groups.apply(resource)
        if touched is not None:
            retained.pop(node_key(touched), None)  # its policy changed: read it again at its turn
        key = node_key(resource)
        if key not in options:
            options[key] = resource.cfn_options
        if key not in retained:
            policy = jsii.get(options[key], "deletionPolicy")
            retained[key] = policy == CfnDeletionPolicy.RETAIN
        if retained[key]:
            # jsii.set, not the attribute: the options are an interface proxy whose attribute
            # writes ask node for the old value first.
            jsii.set(options[key], "deletionPolicy", CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE)
            retained[key] = False


def _resources_of(scope: IConstruct) -> list[CfnResource]:
    """The L1 resources under ``scope``, in the order aspects visit them, none of a nested stage
    (aspects stop at stages too)."""
    tree = ConstructTree(scope)
    stages = [node_key(c) for c in tree.preorder[1:] if isinstance(c, Stage)]
    return [
        construct
        for construct in tree.preorder
        if isinstance(construct, CfnResource)
        and not any(tree.contains(stage, node_key(construct)) for stage in stages)
    ]


def _deletion_policies(
    resources: list[CfnResource],
) -> tuple[dict[str, Any], dict[str, bool]]:
    """(resource -> its options, resource -> whether its deletion policy is ``Retain``), by
    ``node_key``: the options are read one call each, their policies in one ``resolve`` of all."""
    if not resources:
        return {}, {}
    options = [resource.cfn_options for resource in resources]
    resolved = Stack.of(resources[0]).resolve(options)
    return (
        {node_key(resource): option for resource, option in zip(resources, options, strict=True)},
        {
            node_key(resource): (values or {}).get("deletionPolicy") == RETAIN
            for resource, values in zip(resources, resolved, strict=True)
        },
    )


@jsii.implements(IAspect)
class _ApplyWhenVisited:
    """Runs ``EnvironmentPolicies.apply`` once, when aspects run: after the app is built."""

    def __init__(self, policies: EnvironmentPolicies) -> None:
        self.policies = policies

    def visit(self, node: IConstruct) -> None:
        if node is self.policies:  # the only construct it is applied to
            self.policies.apply()
