"""The role a GitHub Actions deployment of one environment assumes through OIDC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, Duration, Stack, Token, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

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
APP_RUNNER_DEPLOY_ACTIONS = (
    "apprunner:DescribeService",
    "apprunner:ListOperations",
    "apprunner:StartDeployment",
)
"""Start a deployment and follow it to its end (ListOperations says whether it succeeded)."""


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
    app_runner_service: str | None = None
    """Name of the App Runner service the workflow starts deployments of, if any."""


class GitHubDeployRole(Construct):
    """Trusted only by ``repo:OWNER/REPO:environment:ENV`` with audience sts.amazonaws.com
    (both ``StringEquals``); may only assume the CDK bootstrap roles of one account and region,
    plus push to the environment's repositories and deploy its App Runner service."""

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
        acknowledgements: list[tuple[str, str]] = []
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
            acknowledgements.append(
                (
                    "Resource::*",
                    "ecr:GetAuthorizationToken supports no resource-level permissions; every "
                    "push action is limited to the environment's own repositories.",
                )
            )
        if props.app_runner_service is not None:
            service_arn = (
                f"arn:{partition}:apprunner:{props.region}:{props.account}:"
                f"service/{props.app_runner_service}/*"
            )
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="DeployAppRunnerService",
                    actions=list(APP_RUNNER_DEPLOY_ACTIONS),
                    resources=[service_arn],
                )
            )
            acknowledgements.append(
                (
                    f"Resource::{service_arn.replace(partition, '<AWS::Partition>')}"
                    if Token.is_unresolved(partition)
                    else f"Resource::{service_arn}",
                    "App Runner appends a generated id to the service ARN; the name part is "
                    "fixed, so the wildcard matches that one service only.",
                )
            )
        policy = self.role.node.try_find_child("DefaultPolicy")
        for applies_to, reason in acknowledgements:
            Validations.of(policy or self.role).acknowledge(
                Acknowledgment(id=f"AwsSolutions::AwsSolutions-IAM5[{applies_to}]", reason=reason)
            )
