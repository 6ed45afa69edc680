"""The role a GitHub Actions deployment of one environment assumes through OIDC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from cdk_constructs.nag import acknowledge, nag_text

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
"""The audience aws-actions/configure-aws-credentials asks GitHub for."""
CDK_BOOTSTRAP_ROLES = (
    "deploy-role",
    "file-publishing-role",
    "image-publishing-role",
    "lookup-role",
)
"""The bootstrap roles the CDK CLI assumes (not the CloudFormation execution role, which only
CloudFormation assumes, through the deploy role)."""
ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
"""Push an image, and see whether a tag is there already (tags are immutable: a re-run of the
same commit skips the build)."""


@dataclass(frozen=True, kw_only=True)
class DeployPermission:
    """A statement a part of the platform needs in its deploy role (e.g. to roll out an image),
    computed from names only: the role lives in the account's OIDC stack."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    wildcard_reason: str | None = None
    """Why a resource ends in a wildcard (the cdk-nag acknowledgement), if one does."""


@dataclass(frozen=True, kw_only=True)
class ReleaseNames:
    """Where an environment's releases are read and recorded (``python -m release``)."""

    stacks: tuple[str, ...]
    """The web and API stacks whose ``Release`` outputs the tooling reads."""
    ecs_cluster: str | None
    """The web service's cluster (named in config), when the web tier releases on ECS."""
    deployment_groups: tuple[str, ...]
    """``application/group`` of the CodeDeploy group that moves the API function's alias
    (none when the API has no function: its microservices roll with ECS's circuit breaker)."""
    function_prefix: str | None
    """How the API function's name starts: CloudFormation names it
    ``<stack>-<logical id>-<suffix>``; None without a function."""
    alarm_prefixes: tuple[str, ...]
    """How the release alarms' names start (``<release>-release-<what>``)."""
    record_parameters: tuple[str, ...]
    """The SSM parameters holding each recorded tier's current and previous release."""


RELEASE_READ_ACTIONS = {
    "ReadReleaseStacks": ("cloudformation:DescribeStacks",),
    "WatchWebReleases": (
        "ecs:DescribeServiceDeployments",
        "ecs:DescribeServiceRevisions",
        "ecs:ListServiceDeployments",
    ),
    "WatchApiReleases": ("codedeploy:GetDeployment", "codedeploy:ListDeployments"),
    "ReadApiAlias": ("lambda:GetAlias",),
    "ReadReleaseAlarmHistory": ("cloudwatch:DescribeAlarmHistory",),
    "RecordReleases": ("ssm:GetParameter", "ssm:PutParameter"),
}
"""What ``python -m release verify`` and ``explain`` call with the deploy role, by statement."""


def release_permissions(
    names: ReleaseNames, *, partition: str, region: str, account: str
) -> tuple[DeployPermission, ...]:
    """Read the environment's releases and record them: each action on the environment's own
    resources (a wildcard only where AWS appends an id or CloudFormation a suffix), and no
    statement for what the environment does not have (no resource, no statement)."""

    def arn(service: str, resource: str) -> str:
        return f"arn:{partition}:{service}:{region}:{account}:{resource}"

    permissions = [
        DeployPermission(
            sid="ReadReleaseStacks",
            actions=RELEASE_READ_ACTIONS["ReadReleaseStacks"],
            resources=tuple(arn("cloudformation", f"stack/{name}/*") for name in names.stacks),
            wildcard_reason="A stack's ARN ends in the id CloudFormation gives it; the names "
            "are the environment's web and API stacks.",
        ),
    ]
    if names.ecs_cluster is not None:
        cluster = names.ecs_cluster
        permissions.append(
            DeployPermission(
                sid="WatchWebReleases",
                actions=RELEASE_READ_ACTIONS["WatchWebReleases"],
                resources=tuple(
                    arn("ecs", f"{kind}/{cluster}/*")
                    for kind in ("service", "service-deployment", "service-revision")
                ),
                wildcard_reason="CloudFormation names the service and ECS its deployments and "
                "revisions; the cluster part is the environment's own cluster.",
            )
        )
    if names.deployment_groups:
        permissions.append(
            DeployPermission(
                sid="WatchApiReleases",
                actions=RELEASE_READ_ACTIONS["WatchApiReleases"],
                resources=tuple(
                    arn("codedeploy", f"deploymentgroup:{group}")
                    for group in names.deployment_groups
                ),
            )
        )
    if names.function_prefix is not None:
        permissions.append(
            DeployPermission(
                sid="ReadApiAlias",
                actions=RELEASE_READ_ACTIONS["ReadApiAlias"],
                resources=(arn("lambda", f"function:{names.function_prefix}*"),),
                wildcard_reason="CloudFormation names the API function after its stack with a "
                "suffix of its own; the prefix is this environment's API stack.",
            )
        )
    if names.alarm_prefixes:
        permissions.append(
            DeployPermission(
                sid="ReadReleaseAlarmHistory",
                actions=RELEASE_READ_ACTIONS["ReadReleaseAlarmHistory"],
                resources=tuple(
                    arn("cloudwatch", f"alarm:{name}*") for name in names.alarm_prefixes
                ),
                wildcard_reason="The release alarms are <release>-release-<what>, one per metric "
                "watched; the prefixes are this environment's web and API releases.",
            )
        )
    if names.record_parameters:
        permissions.append(
            DeployPermission(
                sid="RecordReleases",
                actions=RELEASE_READ_ACTIONS["RecordReleases"],
                resources=tuple(arn("ssm", f"parameter{name}") for name in names.record_parameters),
            )
        )
    return tuple(permissions)


def bootstrap_role_arn(partition: str, qualifier: str, kind: str, account: str, region: str) -> str:
    return f"arn:{partition}:iam::{account}:role/cdk-{qualifier}-{kind}-{account}-{region}"


@dataclass(frozen=True)
class GitHubDeployRoleProps:
    provider_arn: str
    """The account's GitHub OIDC provider."""
    repository: str
    """``OWNER/REPO``."""
    github_environment: str
    """The GitHub environment whose jobs may assume the role (its protection rules apply)."""
    account: str
    region: str
    """Where the environment is deployed: the bootstrap roles of this account and region."""
    bootstrap_qualifier: str
    role_name: str
    max_session: Duration
    push_repositories: Sequence[str] = ()
    """ECR repository names (in ``account``/``region``) the workflow pushes images to."""
    extra_permissions: Sequence[DeployPermission] = ()
    """What the environment's web runtime needs to roll an image out, and what the release
    tooling reads and records (``release_permissions``)."""


class GitHubDeployRole(Construct):
    """Trusted only by ``repo:OWNER/REPO:environment:ENV`` with audience sts.amazonaws.com
    (both ``StringEquals``); may only assume the CDK bootstrap roles of one account and region,
    plus push to the environment's repositories, what its web runtime's rollout needs and read
    and record its releases."""

    def __init__(self, scope: Construct, id_: str, *, props: GitHubDeployRoleProps) -> None:
        super().__init__(scope, id_)
        partition = Stack.of(self).partition
        subject = f"repo:{props.repository}:environment:{props.github_environment}"
        self.role = iam.Role(
            self,
            "Role",
            role_name=props.role_name,
            description=f"GitHub Actions deploys of {subject}",
            assumed_by=iam.WebIdentityPrincipal(
                props.provider_arn,
                conditions={
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subject,
                    }
                },
            ),
            max_session_duration=props.max_session,
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeCdkBootstrapRoles",
                actions=["sts:AssumeRole"],
                resources=[
                    bootstrap_role_arn(
                        partition, props.bootstrap_qualifier, kind, props.account, props.region
                    )
                    for kind in CDK_BOOTSTRAP_ROLES
                ],
            )
        )
        if props.push_repositories:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="PushImages",
                    actions=list(ECR_PUSH_ACTIONS),
                    resources=[
                        f"arn:{partition}:ecr:{props.region}:{props.account}:repository/{name}"
                        for name in props.push_repositories
                    ],
                )
            )
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="LogInToEcr",
                    actions=["ecr:GetAuthorizationToken"],
                    resources=["*"],
                )
            )
            self._acknowledge_wildcard(
                "*",
                "ecr:GetAuthorizationToken supports no resource-level permissions; every push "
                "action is limited to the environment's own repositories.",
            )
        for permission in props.extra_permissions:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid=permission.sid,
                    actions=list(permission.actions),
                    resources=list(permission.resources),
                )
            )
            if permission.wildcard_reason is not None:
                for resource in permission.resources:
                    self._acknowledge_wildcard(resource, permission.wildcard_reason)

    def _acknowledge_wildcard(self, resource: str, reason: str) -> None:
        """On the role's policy: a resource with a wildcard, and why it is as narrow as it gets."""
        policy = self.role.node.find_child("DefaultPolicy")
        applies_to = f"Resource::{nag_text(Stack.of(self), resource)}"
        acknowledge(policy, "AwsSolutions-IAM5", reason, applies_to=applies_to)
