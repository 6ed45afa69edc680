"""The App Runner service construct in two stacks, synthesized once per test session with the
quality gates on: (a) an ECR Public placeholder with a start command; (b) a private ECR image
with two secrets; and the fixtures that hand them out. Shared by the App Runner construct test
modules."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnOutput, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager

from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.nag import acknowledge
from cdk_constructs.network import Network
from cdk_constructs.web_runtime.app_runner import AppRunnerService
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE, PublicImage, RepositoryImage
from cdk_constructs.web_runtime.interface import WebRuntimeProps
from stacks.platform_app import add_quality_gates
from tests.network_cases import vpc_network
from tests.synth import scratch_app
from tests.template_queries import only, resources

ENV = Environment(account="111111111111", region="us-east-1")
START_COMMAND = "nginx -g 'daemon off;'"
HEALTH_PATH = "/healthz"
SECRET_READ = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
ECR_PULL = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "ecr:DescribeImages",
}


@dataclass(frozen=True)
class Case:
    service: AppRunnerService
    template: dict[str, Any]


def actions_of(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action) if isinstance(action, list) else {action}


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def service_of(case: Case) -> dict[str, Any]:
    _, service = only(case.template, "AWS::AppRunner::Service")
    props: dict[str, Any] = service["Properties"]
    return props


def image_source(case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """The service's source configuration and the image repository within it."""
    source: dict[str, Any] = service_of(case)["SourceConfiguration"]
    return source, source["ImageRepository"]


def image_configuration(case: Case) -> dict[str, Any]:
    config: dict[str, Any] = image_source(case)[1]["ImageConfiguration"]
    return config


def role_of(case: Case, service_principal: str) -> str:
    """The logical id of the one role ``service_principal`` assumes."""
    (found,) = [
        logical_id
        for logical_id, role in resources(case.template, "AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": service_principal}
    ]
    return found


def service_props(network: Network, **overrides: Any) -> WebRuntimeProps:
    props = WebRuntimeProps(
        name="test-web",
        vpc=network.vpc,
        public_subnets=network.public_subnets,
        app_subnets=network.app_subnets,
        image=PublicImage(PLACEHOLDER_IMAGE, ("nginx", "-g", "daemon off;")),
        port=8080,
        health_path=HEALTH_PATH,
        cpu=256,
        memory_mib=512,
        min_instances=1,
        max_instances=2,
        environment={"PORT": "8080", "LOG_LEVEL": "info"},
        secrets=(),
        log_retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=RemovalPolicy.RETAIN,
    )
    return replace(props, **overrides)


def _test_secret(stack: Stack, id_: str, **kwargs: Any) -> secretsmanager.Secret:
    secret = secretsmanager.Secret(stack, id_, removal_policy=RemovalPolicy.DESTROY, **kwargs)
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "Test fixture: a secret the service reads, not the construct under test.",
    )
    return secret


@cache
def app_runner_cases() -> tuple[Path, dict[str, Case]]:
    """(assembly directory, {"Placeholder": case, "Private": case})."""
    outdir = Path(tempfile.mkdtemp(prefix="app-runner-"))
    app = scratch_app(outdir)

    public_stack = Stack(app, "Placeholder", env=ENV)
    public = AppRunnerService(public_stack, "Web", props=service_props(vpc_network(public_stack)))
    CfnOutput(public_stack, "Url", value=public.url)

    private_stack = Stack(app, "Private", env=ENV)
    repository = ecr.Repository(private_stack, "Repository", removal_policy=RemovalPolicy.DESTROY)
    ecr.Repository(private_stack, "OtherRepository", removal_policy=RemovalPolicy.DESTROY)
    key = kms.Key(
        private_stack, "SecretKey", enable_key_rotation=True, removal_policy=RemovalPolicy.DESTROY
    )
    whole = _test_secret(private_stack, "AppSecret")
    client = _test_secret(private_stack, "ClientSecret", encryption_key=key)
    _test_secret(private_stack, "UnrelatedSecret")
    private = AppRunnerService(
        private_stack,
        "Web",
        props=service_props(
            vpc_network(private_stack),
            image=RepositoryImage(repository, "v1"),
            cpu=1024,
            memory_mib=2048,
            min_instances=2,
            max_instances=5,
            secrets=(
                ContainerSecret(name="APP_SECRETS", secret=whole),
                ContainerSecret(name="API_CLIENT_SECRET", secret=client, field="client_secret"),
            ),
        ),
    )
    CfnOutput(private_stack, "Url", value=private.url)

    add_quality_gates(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag error
    cases = {
        stack.stack_name: Case(
            service=service,
            template=dict(assembly.get_stack_by_name(stack.stack_name).template),
        )
        for stack, service in ((public_stack, public), (private_stack, private))
    }
    return outdir, cases


@pytest.fixture(scope="module")
def cases() -> tuple[Path, dict[str, Case]]:
    return app_runner_cases()


@pytest.fixture(params=["Placeholder", "Private"])
def case(request: pytest.FixtureRequest, cases: tuple[Path, dict[str, Case]]) -> Case:
    name: str = request.param
    return cases[1][name]
