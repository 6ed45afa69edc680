"""The cdk-nag findings the EC2 web runtime acknowledges, each on the narrowest construct."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Stack

from cdk_constructs.nag import acknowledge, nag_text

if TYPE_CHECKING:
    from cdk_constructs.web_runtime.ec2 import Ec2WebService

SSM_CORE_POLICY = "Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore"


def acknowledge_instances(service: Ec2WebService, *, group_arn: str, private_image: bool) -> None:
    """The instance role's AWS-managed Session Manager policy and its wildcards, and the group's
    notifications."""
    role = service.instance_role
    acknowledge(
        role,
        "AwsSolutions-IAM4",
        "AmazonSSMManagedInstanceCore: what the SSM Agent needs for Session Manager (operators' "
        "shell access; no key pair, no port 22); AWS keeps it in step with the agent. It also "
        "reads plain SSM parameters anywhere in the account (SecureString values need a KMS "
        "grant the role lacks).",
        applies_to=SSM_CORE_POLICY,
    )
    policy = role.node.find_child("DefaultPolicy")
    acknowledge(
        policy,
        "AwsSolutions-IAM5",
        "autoscaling:CompleteLifecycleAction on the web group only: its ARN holds a generated "
        "id, the name part is fixed.",
        applies_to=f"Resource::{nag_text(Stack.of(role), group_arn)}",
    )
    if private_image:
        acknowledge(
            policy,
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken has no resource-level permissions; the image pull itself "
            "is scoped to the web repository.",
            applies_to="Resource::*",
        )
    acknowledge(
        service.auto_scaling_group.node.default_child or service.auto_scaling_group,
        "AwsSolutions-AS3",
        "Scaling events are in the group's activity history; what matters of them (targets "
        "unhealthy or missing, 5XX) alarms to the alerts topic from the ops stack, and a failed "
        "instance refresh fails the deploy itself.",
    )
