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
    """What the environment's web runtime needs to roll an image out, if anything."""


class GitHubDeployRole(Construct):
    """Trusted only by ``repo:OWNER/REPO:environment:ENV`` with audience sts.amazonaws.com
    (both ``StringEquals``); may only assume the CDK bootstrap roles of one account and region,
    plus push to the environment's repositories and what its web runtime's rollout needs."""

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
