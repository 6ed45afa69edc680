"""The App Runner service construct, synthesized with the quality gates on: relations, not ids."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import (
    Acknowledgment,
    App,
    CfnOutput,
    Environment,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager

from cdk_constructs.app_runner_service import (
    XRAY_WRITE_ACTIONS,
    AppRunnerService,
    AppRunnerServiceProps,
    ContainerSecret,
)
from cdk_constructs.network import Network
from cdk_constructs.options import NatMode
from stacks.platform_app import add_quality_gates, unacknowledged_findings
from tests.conftest import cdk_json_context, cfn_lint
from tests.template_queries import (
    get_att,
    only,
    policy_statements_of_role,
    ref,
    resources,
    security_group_rules,
    subnets_by_group,
)

ENV = Environment(account="111111111111", region="us-east-1")
PLACEHOLDER_IMAGE = "public.ecr.aws/nginx/nginx:1.27-alpine"
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


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action) if isinstance(action, list) else {action}


def _resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def _service(case: Case) -> dict[str, Any]:
    _, service = only(case.template, "AWS::AppRunner::Service")
    props: dict[str, Any] = service["Properties"]
    return props


def _image_configuration(case: Case) -> dict[str, Any]:
    config: dict[str, Any] = _service(case)["SourceConfiguration"]["ImageRepository"][
        "ImageConfiguration"
    ]
    return config


def _role_id(case: Case, service_principal: str) -> str:
    (role_id,) = [
        logical_id
        for logical_id, role in resources(case.template, "AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": service_principal}
    ]
    return role_id


def _network(stack: Stack) -> Network:
    return Network(
        stack,
        "Network",
        cidr="10.0.0.0/16",
        availability_zones=("us-east-1a", "us-east-1b"),
        nat_mode=NatMode.SINGLE_GATEWAY,
        flow_log_retention=logs.RetentionDays.ONE_WEEK,
        flow_log_group_name=f"/test/{stack.stack_name}/flow-logs",
        removal_policy=RemovalPolicy.DESTROY,
    )


def _props(network: Network, **overrides: Any) -> AppRunnerServiceProps:
    props = AppRunnerServiceProps(
        service_name="test-web",
        vpc=network.vpc,
        subnets=network.app_subnets,
        image_identifier=PLACEHOLDER_IMAGE,
        image_repository=None,
        start_command=START_COMMAND,
        port=8080,
        health_path=HEALTH_PATH,
        cpu=256,
        memory_mib=512,
        min_instances=1,
        max_instances=2,
        environment={"PORT": "8080", "LOG_LEVEL": "info"},
        secrets=(),
    )
    return replace(props, **overrides)


def _test_secret(stack: Stack, id_: str, **kwargs: Any) -> secretsmanager.Secret:
    secret = secretsmanager.Secret(stack, id_, removal_policy=RemovalPolicy.DESTROY, **kwargs)
    Validations.of(secret).acknowledge(
        Acknowledgment(
            id="AwsSolutions::AwsSolutions-SMG4",
            reason="Test fixture: a secret the service reads, not the construct under test.",
        )
    )
    return secret


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Case]]:
    """(a) ECR Public placeholder with a start command; (b) private ECR image, two secrets."""
    outdir = tmp_path_factory.mktemp("app-runner")
    app = App(outdir=str(outdir), context=cdk_json_context())

    public_stack = Stack(app, "Placeholder", env=ENV)
    public = AppRunnerService(public_stack, "Web", props=_props(_network(public_stack)))
    CfnOutput(public_stack, "Url", value=public.service_url)

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
        props=_props(
            _network(private_stack),
            image_identifier=repository.repository_uri_for_tag("v1"),
            image_repository=repository,
            start_command=None,
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
    CfnOutput(private_stack, "Url", value=private.service_url)

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


@pytest.fixture(params=["Placeholder", "Private"])
def case(request: pytest.FixtureRequest, synthesized: tuple[Path, dict[str, Case]]) -> Case:
    name: str = request.param
    return synthesized[1][name]


@pytest.fixture
def public(synthesized: tuple[Path, dict[str, Case]]) -> Case:
    return synthesized[1]["Placeholder"]


@pytest.fixture
def private(synthesized: tuple[Path, dict[str, Case]]) -> Case:
    return synthesized[1]["Private"]


# --- quality gates --------------------------------------------------------------------------------


def test_no_unacknowledged_finding_and_no_lint(
    synthesized: tuple[Path, dict[str, Case]],
) -> None:
    outdir, _ = synthesized
    assert unacknowledged_findings(outdir) == []
    assert cfn_lint(sorted(outdir.glob("*.template.json")), ["us-east-1"]) == ""


# --- source and deployments -----------------------------------------------------------------------


def test_automatic_deployments_are_off(case: Case) -> None:
    assert _service(case)["SourceConfiguration"]["AutoDeploymentsEnabled"] is False


def test_placeholder_runs_from_ecr_public_with_its_start_command_and_no_access_role(
    public: Case,
) -> None:
    source = _service(public)["SourceConfiguration"]
    repository = source["ImageRepository"]
    assert repository["ImageRepositoryType"] == "ECR_PUBLIC"
    assert repository["ImageIdentifier"] == PLACEHOLDER_IMAGE
    assert repository["ImageConfiguration"]["StartCommand"] == START_COMMAND
    assert "AuthenticationConfiguration" not in source
    assert public.service.access_role is None
    roles = resources(public.template, "AWS::IAM::Role").values()
    assert all(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        != {"Service": "build.apprunner.amazonaws.com"}
        for role in roles
    )


def test_private_image_is_pulled_by_an_access_role_limited_to_its_repository(
    private: Case,
) -> None:
    source = _service(private)["SourceConfiguration"]
    repository = source["ImageRepository"]
    assert repository["ImageRepositoryType"] == "ECR"
    assert "StartCommand" not in repository["ImageConfiguration"]
    role_id = _role_id(private, "build.apprunner.amazonaws.com")
    assert source["AuthenticationConfiguration"] == {"AccessRoleArn": get_att(role_id, "Arn")}
    assert private.service.access_role is not None
    assert "ManagedPolicyArns" not in private.template["Resources"][role_id]["Properties"]
    repositories = resources(private.template, "AWS::ECR::Repository")
    (image_repository_id,) = [
        logical_id
        for logical_id in repositories
        if json.dumps(ref(logical_id)) in json.dumps(repository["ImageIdentifier"])
    ]
    granted: dict[str, set[str]] = {}
    for statement in policy_statements_of_role(private.template, role_id):
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement
        for resource in _resources(statement):
            granted.setdefault(json.dumps(resource), set()).update(_actions(statement))
    assert granted == {
        json.dumps(get_att(image_repository_id, "Arn")): ECR_PULL,
        json.dumps("*"): {"ecr:GetAuthorizationToken"},
    }


# --- secrets and the instance role ----------------------------------------------------------------


def test_secrets_are_runtime_secrets_by_full_arn_never_plain_variables(private: Case) -> None:
    config = _image_configuration(private)
    secrets = {item["Name"]: item["Value"] for item in config["RuntimeEnvironmentSecrets"]}
    secret_ids = resources(private.template, "AWS::SecretsManager::Secret")
    app_secret_id = next(i for i in secret_ids if i.startswith("AppSecret"))
    client_secret_id = next(i for i in secret_ids if i.startswith("ClientSecret"))
    assert secrets == {
        "APP_SECRETS": ref(app_secret_id),
        "API_CLIENT_SECRET": {"Fn::Join": ["", [ref(client_secret_id), ":client_secret::"]]},
    }
    plain = {item["Name"]: item["Value"] for item in config["RuntimeEnvironmentVariables"]}
    assert plain == {"LOG_LEVEL": "info"}  # PORT is App Runner's own; no secret in sight
    assert "SecretsManager" not in json.dumps(plain)
    assert "resolve:secretsmanager" not in json.dumps(_service(private))


def test_instance_role_reads_exactly_the_service_secrets_and_decrypts_via_secrets_manager(
    private: Case,
) -> None:
    config = _image_configuration(private)
    secret_refs = {
        json.dumps(ref(logical_id))
        for logical_id in resources(private.template, "AWS::SecretsManager::Secret")
        if json.dumps(ref(logical_id)) in json.dumps(config["RuntimeEnvironmentSecrets"])
    }
    assert len(secret_refs) == 2
    role_id = _role_id(private, "tasks.apprunner.amazonaws.com")
    role = private.template["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert _service(private)["InstanceConfiguration"]["InstanceRoleArn"] == get_att(role_id, "Arn")
    granted: dict[str, set[str]] = {}
    for statement in policy_statements_of_role(private.template, role_id):
        assert statement["Effect"] == "Allow"
        for resource in _resources(statement):
            granted.setdefault(json.dumps(resource), set()).update(_actions(statement))
    assert granted == {**dict.fromkeys(secret_refs, SECRET_READ), '"*"': set(XRAY_WRITE_ACTIONS)}
    # The client secret's key lets the role decrypt, only through Secrets Manager.
    role_arn = get_att(role_id, "Arn")
    key_grants = [
        (key_id, statement)
        for key_id, key in resources(private.template, "AWS::KMS::Key").items()
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"AWS": role_arn}
    ]
    ((key_id, statement),) = key_grants
    client_secret = next(
        secret
        for secret in resources(private.template, "AWS::SecretsManager::Secret").values()
        if secret["Properties"].get("KmsKeyId")
    )
    assert client_secret["Properties"]["KmsKeyId"] == get_att(key_id, "Arn")
    assert _actions(statement) == {"kms:Decrypt"}
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    }


def test_placeholder_instance_role_may_only_write_traces(public: Case) -> None:
    role_id = _role_id(public, "tasks.apprunner.amazonaws.com")
    assert "ManagedPolicyArns" not in public.template["Resources"][role_id]["Properties"]
    (statement,) = policy_statements_of_role(public.template, role_id)
    assert (_actions(statement), statement["Resource"]) == (set(XRAY_WRITE_ACTIONS), "*")
    assert "RuntimeEnvironmentSecrets" not in _image_configuration(public)


def test_service_waits_for_the_policies_of_its_roles(private: Case) -> None:
    service_id, service = only(private.template, "AWS::AppRunner::Service")
    policies = {
        policy_id
        for policy_id, policy in resources(private.template, "AWS::IAM::Policy").items()
        for role in policy["Properties"]["Roles"]
        if role
        in (
            ref(_role_id(private, "tasks.apprunner.amazonaws.com")),
            ref(_role_id(private, "build.apprunner.amazonaws.com")),
        )
    }
    assert len(policies) == 2
    assert policies <= set(service["DependsOn"]), service_id


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
    network = _service(case)["NetworkConfiguration"]
    assert network["EgressConfiguration"] == {
        "EgressType": "VPC",
        "VpcConnectorArn": get_att(connector_id, "VpcConnectorArn"),
    }
    assert network["IngressConfiguration"] == {"IsPubliclyAccessible": True}


# --- runtime settings -----------------------------------------------------------------------------


def test_health_check_is_http_on_the_health_path(case: Case) -> None:
    check = _service(case)["HealthCheckConfiguration"]
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
    synthesized: tuple[Path, dict[str, Case]],
    name: str,
    sizes: tuple[int, int],
    instance: tuple[str, str],
) -> None:
    case = synthesized[1][name]
    scaling_id, scaling = only(case.template, "AWS::AppRunner::AutoScalingConfiguration")
    props = scaling["Properties"]
    assert (props["MinSize"], props["MaxSize"]) == sizes
    assert props["MaxConcurrency"] == 100
    service = _service(case)
    assert service["AutoScalingConfigurationArn"] == get_att(
        scaling_id, "AutoScalingConfigurationArn"
    )
    configuration = service["InstanceConfiguration"]
    assert (configuration["Cpu"], configuration["Memory"]) == instance
    assert _image_configuration(case)["Port"] == "8080"


def test_xray_tracing_is_on(case: Case) -> None:
    observability_id, observability = only(
        case.template, "AWS::AppRunner::ObservabilityConfiguration"
    )
    assert observability["Properties"]["TraceConfiguration"] == {"Vendor": "AWSXRAY"}
    assert _service(case)["ObservabilityConfiguration"] == {
        "ObservabilityEnabled": True,
        "ObservabilityConfigurationArn": get_att(observability_id, "ObservabilityConfigurationArn"),
    }


def test_service_url_is_https_and_can_be_an_output(case: Case) -> None:
    service_id, _ = only(case.template, "AWS::AppRunner::Service")
    assert case.template["Outputs"]["Url"]["Value"] == {
        "Fn::Join": ["", ["https://", get_att(service_id, "ServiceUrl")]]
    }
    stack = Stack.of(case.service)
    assert stack.resolve(case.service.service_arn) == get_att(service_id, "ServiceArn")


# --- what App Runner would reject at deploy time fails the synth ----------------------------------


@pytest.fixture(scope="module")
def scratch_network() -> Network:
    return _network(Stack(App(context=cdk_json_context()), "Scratch", env=ENV))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpu": 1024, "memory_mib": 512}, "does not offer cpu 1024 with memory 512"),
        ({"min_instances": 3, "max_instances": 2}, "instances"),
        ({"image_identifier": "docker.io/library/nginx:1.27"}, "not an ECR Public image"),
        ({"environment": {"PORT": "80"}}, "PORT is reserved"),
        ({"environment": {"AWSAPPRUNNER_X": "1"}}, "reserved prefix"),
        ({"service_name": "a b"}, "service name"),
    ],
)
def test_invalid_settings_fail_the_synth(
    scratch_network: Network, overrides: dict[str, Any], message: str
) -> None:
    stack = Stack.of(scratch_network)
    with pytest.raises(ValueError, match=message):
        AppRunnerService(
            stack, f"Invalid{len(stack.node.children)}", props=_props(scratch_network, **overrides)
        )


def test_secrets_need_their_full_arn_and_one_name(scratch_network: Network) -> None:
    stack = Stack.of(scratch_network)
    by_name = secretsmanager.Secret.from_secret_name_v2(stack, "ByName", "app/secret")
    with pytest.raises(ValueError, match="full ARN"):
        AppRunnerService(
            stack,
            "PartialArn",
            props=_props(scratch_network, secrets=(ContainerSecret("TOKEN", by_name),)),
        )
    complete = secretsmanager.Secret.from_secret_complete_arn(
        stack, "Complete", "arn:aws:secretsmanager:us-east-1:111111111111:secret:app/secret-AbCdEf"
    )
    with pytest.raises(ValueError, match="defined twice"):
        AppRunnerService(
            stack,
            "Duplicate",
            props=_props(
                scratch_network,
                environment={"TOKEN": "plain"},
                secrets=(ContainerSecret("TOKEN", complete),),
            ),
        )
