"""An ECR repository for one of the platform's images, with safe defaults."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from constructs import Construct

UNTAGGED_DAYS = 7
UNTAGGED_IMAGE_EXPIRY = Duration.days(UNTAGGED_DAYS)
"""Untagged images are leftovers of re-pushed builds; keep them a week for rollbacks."""


class ContainerRepository(Construct):
    """An ECR repository: scan on push, immutable tags, KMS encryption, bounded lifecycle.

    With ``RemovalPolicy.DESTROY`` the repository is emptied and removed with its stack (dev);
    with a retaining policy it and its images survive the stack (production). ``lambda_pull``
    lets Lambda functions of this account and region (only) pull images, which a function
    running an image needs.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        repository_name: str,
        keep_tagged_images: int,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        lambda_pull: bool = False,
    ) -> None:
        super().__init__(scope, id_)
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=repository_name,
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.KMS,
            removal_policy=removal_policy,
            empty_on_delete=removal_policy == RemovalPolicy.DESTROY,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    rule_priority=1,
                    description=f"Expire untagged images after {UNTAGGED_DAYS} days",
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=UNTAGGED_IMAGE_EXPIRY,
                ),
                ecr.LifecycleRule(
                    rule_priority=2,
                    description=f"Keep the last {keep_tagged_images} tagged images",
                    tag_status=ecr.TagStatus.TAGGED,
                    tag_pattern_list=["*"],
                    max_image_count=keep_tagged_images,
                ),
            ],
        )
        if lambda_pull:
            stack = Stack.of(self)
            self.repository.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="LambdaPullForThisAccountsFunctions",
                    principals=[iam.ServicePrincipal("lambda.amazonaws.com")],
                    actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    conditions={
                        "StringLike": {
                            "aws:sourceArn": stack.format_arn(
                                service="lambda",
                                resource="function",
                                resource_name="*",
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                        }
                    },
                )
            )
