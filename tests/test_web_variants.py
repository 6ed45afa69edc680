"""The web tier's variants: Fargate Spot runs X86_64 tasks only, and every environment on App
Runner (with and without an image tag): relations, secrets, permissions, WAF, canary, alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cdk_constructs.options import CpuArchitecture, WebRuntime
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE
from stacks import delivery
from stacks.config import APP_CONFIG, repository_name
from tests import web_variants as web_tier
from tests.synth import PLATFORM_ALB_ENV_NAMES, Synthesized, SynthesizedEnv, env_fixture
from tests.template_queries import get_att, only, resources
from tests.test_log_retention import implicit_log_group_retention, log_group_problems
from tests.web_variants import Templates
from tests.web_variants import variants as variants  # fixture

env = env_fixture(PLATFORM_ALB_ENV_NAMES)
"""Each shipped environment behind the platform's own ALB (Express has its own module)."""

# --- Fargate Spot runs X86_64 tasks only ----------------------------------------------------------

# https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
# "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
# Fargate Spot only supports Linux tasks with the X86_64 architecture."
DOCKER_PLATFORM = {"ARM64": "linux/arm64", "X86_64": "linux/amd64"}
"""ECS RuntimePlatform.CpuArchitecture -> the platform an image must be built for."""


def task_architecture(template: dict[str, Any], service: dict[str, Any]) -> str:
    task = template["Resources"][service["Properties"]["TaskDefinition"]["Ref"]]
    platform = task["Properties"].get("RuntimePlatform", {})
    return str(platform.get("CpuArchitecture", "X86_64"))  # ECS's default


def spot_services(template: dict[str, Any]) -> dict[str, str]:
    """Service -> task architecture, for every ECS service that places tasks on FARGATE_SPOT:
    by its own capacity provider strategy, or else by its cluster's default strategy."""
    spot_clusters = [
        association["Properties"]["Cluster"]
        for association in resources(
            template, "AWS::ECS::ClusterCapacityProviderAssociations"
        ).values()
        if any(
            item["CapacityProvider"] == "FARGATE_SPOT"
            for item in association["Properties"].get("DefaultCapacityProviderStrategy", [])
        )
    ]
    found = {}
    for service_id, service in resources(template, "AWS::ECS::Service").items():
        props = service["Properties"]
        strategy = props.get("CapacityProviderStrategy")
        if strategy:
            spot = any(item["CapacityProvider"] == "FARGATE_SPOT" for item in strategy)
        else:
            spot = "LaunchType" not in props and props.get("Cluster") in spot_clusters
        if spot:
            found[service_id] = task_architecture(template, service)
    return found


def test_no_service_puts_arm64_tasks_on_fargate_spot(
    synthesized: Synthesized, variants: dict[str, Templates]
) -> None:
    templates = [json.loads(path.read_text()) for path in synthesized.template_files()]
    templates += [variant.web for variant in variants.values()]
    on_spot = [
        (index, service, architecture)
        for index, template in enumerate(templates)
        for service, architecture in spot_services(template).items()
    ]
    assert on_spot, "dev and the spot variant run on Fargate Spot: the walk found none"
    assert [entry for entry in on_spot if entry[2] != "X86_64"] == []


def test_a_spot_variant_runs_x86_on_fargate_spot(variants: dict[str, Templates]) -> None:
    web = variants["stagingspot"].web
    ((_, architecture),) = spot_services(web).items()
    assert architecture == "X86_64"
    assert variants["stagingspot"].config.web.cpu_architecture is CpuArchitecture.X86_64


def test_deploy_workflow_builds_the_web_image_for_the_task_architecture(
    env: SynthesizedEnv, variants: dict[str, Templates]
) -> None:
    """The plan's web_platform (what `docker buildx` builds) is the task definition's
    architecture in each environment, the instances' on EC2; App Runner runs linux/amd64."""
    candidates = [(env.config, env.web_json)]
    if env.config.name == "dev":
        candidates += [(variants[name].config, variants[name].web) for name in ("devimg", "devar")]
    if env.config.name == "staging":
        candidates.append((variants["stagingspot"].config, variants["stagingspot"].web))
    for config, web in candidates:
        plan = delivery.deploy_plan(APP_CONFIG, config)
        services = resources(web, "AWS::ECS::Service")
        if config.web.runtime is WebRuntime.APP_RUNNER:
            assert services == {}
            assert plan["web_platform"] == "linux/amd64"
            continue
        if config.web.runtime is WebRuntime.EC2:
            # Graviton instances booting AL2023 for arm64 run the image as it is.
            assert services == {}
            data = web_tier.launch_data(web)
            assert data["InstanceType"].startswith("t4g.")
            (image,) = [
                parameter["Default"]
                for name, parameter in web["Parameters"].items()
                if data["ImageId"] == {"Ref": name}
            ]
            assert image.endswith("-arm64")
            assert plan["web_platform"] == "linux/arm64", config.name
            continue
        ((_, service),) = services.items()
        assert plan["web_platform"] == DOCKER_PLATFORM[task_architecture(web, service)], config.name
        if config.web.spot:
            assert plan["web_platform"] == "linux/amd64", config.name


# --- App Runner --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["devar", "stagingar", "prodar", "devarimg"])
def test_app_runner_runtime(name: str, variants: dict[str, Templates]) -> None:
    templates = variants[name]
    web = templates.web
    assert resources(web, "AWS::ECS::Service") == {}
    _, service = only(web, "AWS::AppRunner::Service")
    props = service["Properties"]
    source = props["SourceConfiguration"]
    assert source["AutoDeploymentsEnabled"] is False
    repository = source["ImageRepository"]
    image_config = repository["ImageConfiguration"]
    secrets = {item["Name"]: item["Value"] for item in image_config["RuntimeEnvironmentSecrets"]}
    assert set(secrets) == web_tier.SECRET_VARIABLES
    plain = {item["Name"]: item["Value"] for item in image_config["RuntimeEnvironmentVariables"]}
    assert not web_tier.SECRET_VARIABLES & set(plain)
    assert "secret" not in json.dumps(plain).lower()
    if templates.config.web.image_tag:
        assert repository["ImageRepositoryType"] == "ECR"
        repository_path = repository_name(APP_CONFIG, templates.config, "web")
        assert json.dumps(repository["ImageIdentifier"]).endswith(
            f'/{repository_path}:{web_tier.IMAGE_TAG}"]]}}'
        )
        assert "AccessRoleArn" in source["AuthenticationConfiguration"]
    else:
        assert repository["ImageRepositoryType"] == "ECR_PUBLIC"
        assert repository["ImageIdentifier"] == PLACEHOLDER_IMAGE
    network = props["NetworkConfiguration"]["EgressConfiguration"]
    assert network["EgressType"] == "VPC"
    _, connector = only(web, "AWS::AppRunner::VpcConnector")
    assert network["VpcConnectorArn"] == get_att(
        only(web, "AWS::AppRunner::VpcConnector")[0], "VpcConnectorArn"
    )
    assert web_tier.subnet_tiers(connector["Properties"]["Subnets"], templates.network) == {"app"}
    assert props["HealthCheckConfiguration"]["Protocol"] == "HTTP"
    assert props["HealthCheckConfiguration"]["Path"] == templates.config.web.health_path
    role_id = props["InstanceConfiguration"]["InstanceRoleArn"]["Fn::GetAtt"][0]
    web_tier.assert_runtime_role(templates, role_id)
    web_tier.assert_waf(templates)
    web_tier.assert_canary(templates)
    assert set(web["Outputs"]) >= {"PublicUrl", "ServiceId"}
    # App Runner's own log groups and the canary's get the environment's retention.
    days = templates.config.log_retention_days
    service_name = f"{APP_CONFIG.app_name}-{templates.config.name}-web"
    assert implicit_log_group_retention(web) == {
        f"/aws/apprunner/{service_name}/<id>/application": days,
        f"/aws/apprunner/{service_name}/<id>/service": days,
        f"/aws/lambda/cwsyn-{f'{templates.config.name}-web-health'[:21]}-<id>": days,
    }
    assert log_group_problems(web, days) == []
    # Its 5XX alarm reads App Runner's metric; no ALB or ECS alarm exists.
    assert templates.ops is not None
    namespaces = {
        alarm["Properties"].get("Namespace")
        for alarm in resources(templates.ops, "AWS::CloudWatch::Alarm").values()
    }
    assert "AWS/AppRunner" in namespaces
    assert "AWS/ApplicationELB" not in json.dumps(templates.ops)
    assert "ECS/ContainerInsights" not in json.dumps(templates.ops)
