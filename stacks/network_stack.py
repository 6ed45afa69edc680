"""Network tier of one environment: the VPC and the ECR repositories of its images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk_constructs.container_repository import ContainerRepository
from cdk_constructs.keys import rotating_key
from cdk_constructs.logging import admit_log_groups
from cdk_constructs.network import Network
from cdk_constructs.options import Image
from stacks.config import log_group_name_patterns, log_group_prefix, repository_name
from stacks.config.names import service_repository_name
from stacks.platform_stack import PlatformStack, Tier

if TYPE_CHECKING:
    from stacks.platform_stage import PlatformStage

IMAGE_NAMES = tuple(Image)
"""The images an environment runs; each gets a repository ``<app>/<env>/<image>``."""
LAMBDA_IMAGES = (Image.API,)
"""Images that run as Lambda functions, so Lambda may pull them."""


class NetworkStack(PlatformStack):
    """Composes the VPC and the image repositories; later tiers take them as attributes."""

    TIER = Tier.NETWORK
    SUMMARY = "network tier (VPC, endpoints, ECR, the environment key)"

    def __init__(self, stage: PlatformStage) -> None:
        super().__init__(stage)
        app, env_config = self.app_config, self.env_config
        # The environment's key: its log groups (all, or the flow logs only: security.
        # encrypt_logs), the web secrets and the canary's artifacts. Here, in the first tier,
        # so every later tier can use it; its policy admits this environment's log groups only.
        self.key = rotating_key(
            self,
            "EnvironmentKey",
            description=f"{app.app_name} {env_config.name}: encrypts logs, secrets, artifacts",
            removal_policy=self.removal_policy,
        )
        admit_log_groups(self.key, name_patterns=log_group_name_patterns(app, env_config))
        self.network = Network(
            self,
            "Network",
            cidr=env_config.network.vpc_cidr,
            availability_zones=env_config.availability_zones,
            nat_mode=env_config.network.nat_mode,
            interface_endpoints=(
                *env_config.api.interface_endpoints,
                *env_config.network.interface_endpoints,
            ),
            flow_log_retention=self.log_retention,
            flow_log_group_name=f"{log_group_prefix(app, env_config)}/vpc-flow-logs",
            flow_log_key=self.key,
            removal_policy=self.removal_policy,
        )
        self.vpc = self.network.vpc

        # Names are fixed because the deploy workflow pushes images to them; they carry the
        # app and environment so several environments can share an account.
        self.repositories = {
            image: ContainerRepository(
                self,
                f"{image.capitalize()}Repository",
                repository_name=repository_name(app, env_config, image),
                keep_tagged_images=env_config.registry.keep_tagged_images,
                removal_policy=self.removal_policy,
                lambda_pull=image in LAMBDA_IMAGES,
            ).repository
            for image in IMAGE_NAMES
        }
        # One per microservice of the public services API (api.services; none by default).
        self.service_repositories = {
            service.name: ContainerRepository(
                self,
                f"Service{service.name.capitalize()}Repository",
                repository_name=service_repository_name(app, env_config, service.name),
                keep_tagged_images=env_config.registry.keep_tagged_images,
                removal_policy=self.removal_policy,
            ).repository
            for service in env_config.api.services
        }

        self.add_outputs(
            ("VpcId", self.vpc.vpc_id, "The environment's VPC"),
            ("EnvironmentKeyArn", self.key.key_arn, "Encrypts the environment's logs and secrets"),
        )
        for image, repository in self.repositories.items():
            push = f"Push the {image} image here (tags are immutable)"
            self.add_outputs(
                (f"{image.capitalize()}RepositoryUri", repository.repository_uri, push)
            )
        for service, repository in self.service_repositories.items():
            push = f"Push the {service} service's image here (tags are immutable)"
            self.add_outputs(
                (f"Service{service.capitalize()}RepositoryUri", repository.repository_uri, push)
            )
