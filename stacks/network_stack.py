"""Network tier of one environment: the VPC and the ECR repositories of its images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk_constructs.container_repository import ContainerRepository
from cdk_constructs.network import Network
from cdk_constructs.options import Image
from stacks.config import repository_name
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
    SUMMARY = "network tier (VPC, endpoints, ECR)"

    def __init__(self, stage: PlatformStage) -> None:
        super().__init__(stage)
        app, env_config = self.app_config, self.env_config
        self.network = Network(
            self,
            "Network",
            cidr=env_config.network.vpc_cidr,
            availability_zones=env_config.availability_zones,
            nat_mode=env_config.network.nat_mode,
            interface_endpoints=env_config.network.interface_endpoints,
            flow_log_retention=self.log_retention,
            flow_log_group_name=f"/{app.app_name}/{env_config.name}/vpc-flow-logs",
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

        self.add_outputs(("VpcId", self.vpc.vpc_id, "The environment's VPC"))
        for image, repository in self.repositories.items():
            push = f"Push the {image} image here (tags are immutable)"
            self.add_outputs(
                (f"{image.capitalize()}RepositoryUri", repository.repository_uri, push)
            )
