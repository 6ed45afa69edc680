"""The microservices construct on its own: the NLB, its listeners and health checks, the
services' tasks, rollouts and scaling, the images, and the alarms it hands the monitoring."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template as CdkTemplate

from cdk_constructs.microservices import (
    CPU_ALARM_PERCENT,
    Microservice,
    Microservices,
    MicroservicesProps,
)
from cdk_constructs.options import ProtectedKind
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE, RepositoryImage, placeholder_image
from tests.synth import scratch_app
from tests.template_queries import only, ref, resources

Template = dict[str, Any]


class Thresholds:
    unhealthy_targets = 2


def build(*, deletion_protection: bool = False) -> tuple[Microservices, Template]:
    stack = Stack(scratch_app(), "Services")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=1)
    repository = ecr.Repository.from_repository_name(stack, "Repo", "app/env/services/items")
    services = Microservices(
        stack,
        "Services",
        props=MicroservicesProps(
            name="app-env",
            vpc=vpc,
            app_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            log_retention=logs.RetentionDays.ONE_WEEK,
            removal_policy=RemovalPolicy.DESTROY,
            deletion_protection=deletion_protection,
        ),
        services=[
            Microservice(
                name="items",
                port=8080,
                health_path="/healthz",
                cpu=256,
                memory_mib=512,
                min_tasks=2,
                max_tasks=4,
                image=RepositoryImage(repository, "abc1234"),
                environment={"DB_USER": "app_api"},
            ),
            Microservice(
                name="me",
                port=8081,
                health_path="/ready",
                cpu=256,
                memory_mib=512,
                min_tasks=1,
                max_tasks=1,
                image=placeholder_image(8081),
            ),
        ],
    )
    template = dict(CdkTemplate.from_stack(stack).to_json())
    return services, template


@pytest.fixture(scope="module")
def built() -> tuple[Microservices, Template]:
    return build()


@pytest.fixture(scope="module")
def template(built: tuple[Microservices, Template]) -> Template:
    return built[1]


def by_port(template: Template, resource_type: str, key: str = "Port") -> dict[int, Any]:
    return {
        resource["Properties"][key]: resource
        for resource in resources(template, resource_type).values()
    }


def test_one_internal_nlb_with_a_tcp_listener_per_service_port(template: Template) -> None:
    nlb_id, nlb = only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert (nlb["Properties"]["Type"], nlb["Properties"]["Scheme"]) == ("network", "internal")
    assert nlb["Properties"]["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    attributes = {a["Key"]: a["Value"] for a in nlb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["load_balancing.cross_zone.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "false"
    listeners = by_port(template, "AWS::ElasticLoadBalancingV2::Listener")
    groups = by_port(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert set(listeners) == set(groups) == {8080, 8081}
    for port, listener in listeners.items():
        props = listener["Properties"]
        assert (props["Protocol"], props["LoadBalancerArn"]) == ("TCP", ref(nlb_id))
        (action,) = props["DefaultActions"]
        group_id = action["TargetGroupArn"]["Ref"]
        assert template["Resources"][group_id] is groups[port]
    _, link = only(template, "AWS::ApiGateway::VpcLink")
    assert link["Properties"]["TargetArns"] == [ref(nlb_id)]


def test_target_groups_check_each_service_health_path_over_http(template: Template) -> None:
    groups = by_port(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    for port, path in ((8080, "/healthz"), (8081, "/ready")):
        props = groups[port]["Properties"]
        assert (props["Protocol"], props["TargetType"]) == ("TCP", "ip")
        assert props["HealthCheckProtocol"] == "HTTP"
        assert props["HealthCheckPath"] == path
        assert props["Matcher"] == {"HttpCode": "200"}


def test_services_roll_with_the_circuit_breaker_on_arm64_without_public_ips(
    template: Template,
) -> None:
    services = resources(template, "AWS::ECS::Service")
    definitions = resources(template, "AWS::ECS::TaskDefinition")
    names = set()
    for service in services.values():
        props = service["Properties"]
        names.add(props["ServiceName"])
        configuration = props["DeploymentConfiguration"]
        assert configuration["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        assert (configuration["MinimumHealthyPercent"], configuration["MaximumPercent"]) == (
            100,
            200,
        )
        assert props.get("DeploymentController", {"Type": "ECS"}) == {"Type": "ECS"}
        network = props["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        definition = definitions[props["TaskDefinition"]["Ref"]]["Properties"]
        assert definition["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
        assert definition["RequiresCompatibilities"] == ["FARGATE"]
    assert names == {"app-env-items", "app-env-me"}
    _, cluster = only(template, "AWS::ECS::Cluster")
    assert cluster["Properties"]["ClusterName"] == "app-env-services"
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"][
        "ClusterSettings"
    ]


def test_each_service_scales_on_cpu_between_its_min_and_max(template: Template) -> None:
    targets = {
        (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"])
        for target in resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    }
    assert targets == {(2, 4), (1, 1)}
    policies = resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    for policy in policies:
        tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
            "ECSServiceAverageCPUUtilization"
        )


def test_tasks_run_the_tagged_repository_image_or_the_placeholder(template: Template) -> None:
    images = {}
    for definition in resources(template, "AWS::ECS::TaskDefinition").values():
        (web,) = [c for c in definition["Properties"]["ContainerDefinitions"] if c["Name"] == "web"]
        (mapping,) = web["PortMappings"]
        images[mapping["ContainerPort"]] = web
    assert "abc1234" in str(images[8080]["Image"])
    assert images[8081]["Image"] == PLACEHOLDER_IMAGE
    assert {"Name": "DB_USER", "Value": "app_api"} in images[8080]["Environment"]
    assert {"Name": "PORT", "Value": "8081"} in images[8081]["Environment"]
    for web in images.values():
        assert web["ReadonlyRootFilesystem"] is True
        assert web["User"] != "0"
        log_group = web["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
        assert template["Resources"][log_group]["Properties"]["RetentionInDays"] == 7


def test_alarm_sources_cover_each_service(built: tuple[Microservices, Template]) -> None:
    services, _ = built
    alarms = services.alarm_sources(Thresholds(), period=Duration.minutes(5))
    by_id = {alarm.id_: alarm for alarm in alarms}
    for name in ("Items", "Me"):
        assert by_id[f"Service{name}UnhealthyTargets"].threshold == Thresholds.unhealthy_targets
        assert by_id[f"Service{name}TasksBelowMinimum"].threshold == 1
        assert by_id[f"Service{name}CpuHigh"].threshold == CPU_ALARM_PERCENT
    assert len(alarms) == 6


def test_a_retained_environment_protects_the_nlb_and_registers_it_with_the_guard() -> None:
    services, template = build(deletion_protection=True)
    _, nlb = only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in nlb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["deletion_protection.enabled"] == "true"
    (protected,) = services.deletion_protected
    assert protected.kind is ProtectedKind.LOAD_BALANCER
    assert protected.resource.node.path == f"{services.load_balancer.node.path}/Resource"
