"""The small two-AZ network the construct tests build their resources in."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_logs as logs

from cdk_constructs.keys import rotating_key
from cdk_constructs.logging import admit_log_groups
from cdk_constructs.network import Network
from cdk_constructs.options import NatMode


def vpc_network(stack: Stack) -> Network:
    """One NAT gateway and a week of flow logs, destroyed with the stack: cheap, and the flow log
    group is named after the stack so that two test stacks never share it."""
    flow_log_group_name = f"/test/{stack.stack_name}/flow-logs"
    key = rotating_key(stack, "Key", description="test", removal_policy=RemovalPolicy.DESTROY)
    admit_log_groups(key, name_patterns=[flow_log_group_name])
    return Network(
        stack,
        "Network",
        cidr="10.0.0.0/16",
        availability_zones=("us-east-1a", "us-east-1b"),
        nat_mode=NatMode.SINGLE_GATEWAY,
        flow_log_retention=logs.RetentionDays.ONE_WEEK,
        flow_log_group_name=flow_log_group_name,
        flow_log_key=key,
        removal_policy=RemovalPolicy.DESTROY,
    )
