"""The App Runner service construct (tests/app_runner_cases.py): its network, runtime settings,
and what App Runner would reject at deploy time failing the synth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_secretsmanager as secretsmanager

from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.network import Network
from cdk_constructs.web_runtime.app_runner import AppRunnerService
from cdk_constructs.web_runtime.image import PublicImage
from tests.app_runner_cases import (
    ENV,
    HEALTH_PATH,
    Case,
    image_configuration,
    service_of,
    service_props,
)
from tests.app_runner_cases import case as case  # fixtures
from tests.app_runner_cases import cases as cases
from tests.network_cases import vpc_network
from tests.synth import scratch_app
from tests.template_queries import get_att, only, ref, security_group_rules, subnets_by_group

# --- network --------------------------------------------------------------------------------------


def test_vpc_connector_in_the_given_subnets_with_https_only_egress(case: Case) -> None:
    connector_id, connector = only(case.template, "AWS::AppRunner::VpcConnector")
    app_subnets = subnets_by_group(case.template)["app"].values()
    assert connector["Properties"]["Subnets"] == [ref(subnet) for subnet in app_subnets]
    (group,) = connector["Properties"]["SecurityGroups"]
    group_id = group["Fn::GetAtt"][0]
    assert group == get_att(group_id, "GroupId")
    stack = Stack.of(case.service)
    assert stack.resolve(case.service.security_group.security_group_id) == group
    assert stack.resolve(case.service.vpc_connector.attr_vpc_connector_arn) == get_att(
        connector_id, "VpcConnectorArn"
    )
    assert security_group_rules(case.template, group_id, "ingress") == []
    egress = security_group_rules(case.template, group_id, "egress")
    assert [
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"], rule["CidrIp"]) for rule in egress
    ] == [("tcp", 443, 443, "0.0.0.0/0")]
    network = service_of(case)["NetworkConfiguration"]
    assert network["EgressConfiguration"] == {
        "EgressType": "VPC",
        "VpcConnectorArn": get_att(connector_id, "VpcConnectorArn"),
    }
    assert network["IngressConfiguration"] == {"IsPubliclyAccessible": True}


# --- runtime settings -----------------------------------------------------------------------------


def test_health_check_is_http_on_the_health_path(case: Case) -> None:
    check = service_of(case)["HealthCheckConfiguration"]
    assert check["Protocol"] == "HTTP"
    assert check["Path"] == HEALTH_PATH
    assert 1 <= check["Timeout"] < check["Interval"] <= 20
    assert check["HealthyThreshold"] >= 1
    assert 1 < check["UnhealthyThreshold"] <= 20


@pytest.mark.parametrize(
    ("name", "sizes", "instance"),
    [
        ("Placeholder", (1, 2), ("256", "512")),
        ("Private", (2, 5), ("1024", "2048")),
    ],
)
def test_auto_scaling_and_instance_size(
    cases: tuple[Path, dict[str, Case]],
    name: str,
    sizes: tuple[int, int],
    instance: tuple[str, str],
) -> None:
    case = cases[1][name]
    scaling_id, scaling = only(case.template, "AWS::AppRunner::AutoScalingConfiguration")
    props = scaling["Properties"]
    assert (props["MinSize"], props["MaxSize"]) == sizes
    assert props["MaxConcurrency"] == 100
    service = service_of(case)
    assert service["AutoScalingConfigurationArn"] == get_att(
        scaling_id, "AutoScalingConfigurationArn"
    )
    configuration = service["InstanceConfiguration"]
    assert (configuration["Cpu"], configuration["Memory"]) == instance
    assert image_configuration(case)["Port"] == "8080"


def test_xray_tracing_is_on(case: Case) -> None:
    observability_id, observability = only(
        case.template, "AWS::AppRunner::ObservabilityConfiguration"
    )
    assert observability["Properties"]["TraceConfiguration"] == {"Vendor": "AWSXRAY"}
    assert service_of(case)["ObservabilityConfiguration"] == {
        "ObservabilityEnabled": True,
        "ObservabilityConfigurationArn": get_att(observability_id, "ObservabilityConfigurationArn"),
    }


def test_service_url_is_https_and_can_be_an_output(case: Case) -> None:
    service_id, _ = only(case.template, "AWS::AppRunner::Service")
    assert case.template["Outputs"]["Url"]["Value"] == {
        "Fn::Join": ["", ["https://", get_att(service_id, "ServiceUrl")]]
    }
    stack = Stack.of(case.service)
    assert stack.resolve(case.service.service_id) == get_att(service_id, "ServiceArn")


# --- what App Runner would reject at deploy time fails the synth ----------------------------------


@pytest.fixture(scope="module")
def scratch_network() -> Network:
    return vpc_network(Stack(scratch_app(), "Scratch", env=ENV))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpu": 1024, "memory_mib": 512}, "does not offer cpu 1024 with memory 512"),
        ({"min_instances": 3, "max_instances": 2}, "instances"),
        ({"image": PublicImage("docker.io/library/nginx:1.27")}, "not an ECR Public image"),
        ({"environment": {"PORT": "80"}}, "PORT is reserved"),
        ({"environment": {"AWSAPPRUNNER_X": "1"}}, "reserved prefix"),
        ({"name": "a b"}, "service name"),
    ],
)
def test_invalid_settings_fail_the_synth(
    scratch_network: Network, overrides: dict[str, Any], message: str
) -> None:
    stack = Stack.of(scratch_network)
    with pytest.raises(ValueError, match=message):
        AppRunnerService(
            stack,
            f"Invalid{len(stack.node.children)}",
            props=service_props(scratch_network, **overrides),
        )


def test_secrets_need_their_full_arn_and_one_name(scratch_network: Network) -> None:
    stack = Stack.of(scratch_network)
    by_name = secretsmanager.Secret.from_secret_name_v2(stack, "ByName", "app/secret")
    with pytest.raises(ValueError, match="full ARN"):
        AppRunnerService(
            stack,
            "PartialArn",
            props=service_props(scratch_network, secrets=(ContainerSecret("TOKEN", by_name),)),
        )
    complete = secretsmanager.Secret.from_secret_complete_arn(
        stack, "Complete", "arn:aws:secretsmanager:us-east-1:111111111111:secret:app/secret-AbCdEf"
    )
    with pytest.raises(ValueError, match="defined twice"):
        AppRunnerService(
            stack,
            "Duplicate",
            props=service_props(
                scratch_network,
                environment={"TOKEN": "plain"},
                secrets=(ContainerSecret("TOKEN", complete),),
            ),
        )
