"""The ECS Express Mode runtime (cdk_constructs/web_runtime/express.py): dev's and prod's web tiers
on ``web.runtime = express``, synthesized with the quality gates on; relations, not ids.

AWS rules these tests hold the construct to (cited where the construct applies them):
- Express takes a task definition of one's own with "a container named Main with a single TCP
  port mapping that includes a container port and port name", "FARGATE compatibility", and then
  no primaryContainer, executionRoleArn, taskRoleArn, cpu, memory or cpuArchitecture (ECS API,
  CreateExpressGatewayService).
- Its load balancer follows its subnets: internal in private ones; it takes no domain and no
  ingress rule of ours; its ALB's ARN is the attribute
  ``ECSManagedResourceArns.IngressPath.LoadBalancerArn``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from cdk_constructs.options import (
    EXPRESS_CPU_MEMORY,
    CpuArchitecture,
    WebReleaseStrategy,
    WebRuntime,
)
from cdk_constructs.web_runtime.express import (
    INFRASTRUCTURE_POLICY,
    MAIN_CONTAINER,
    ExpressWebService,
)
from cdk_constructs.web_runtime.image import (
    APP_USER,
    PLACEHOLDER_IMAGE,
    PLACEHOLDER_USER,
    PublicImage,
)
from cdk_constructs.web_runtime.interface import WebReleasePlan, WebRuntimeProps
from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG, EnvironmentConfig, runtime_spec
from stacks.config.sections import AlarmThresholds, WebReleaseConfig
from stacks.web_stack import web_service_name
from tests.config_helpers import assert_one_line, deploy_error, error_of, real_with, with_web
from tests.synth import Tier, cfn_lint, scratch_app, synth_variant_tiers
from tests.template_queries import (
    get_att,
    imported,
    only,
    output_value,
    policy_statements_of_role,
    ref,
    resources,
    security_group_rules,
    subnets_by_group,
)
from tests.test_snapshots import mask_asset_hashes
from tests.web_variants import (
    IMAGE_TAG,
    SECRET_VARIABLES,
    Templates,
    actions_of,
    assert_runtime_role,
    on_runtime,
    subnet_tiers,
)

ENV = Environment(account="111111111111", region="us-east-1")
SERVICE = "AWS::ECS::ExpressGatewayService"
LOAD_BALANCER_ARN = "ECSManagedResourceArns.IngressPath.LoadBalancerArn"
SECRET_READ = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
ECR_PULL = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}


def _express(env: EnvironmentConfig, suffix: str, **web: Any) -> EnvironmentConfig:
    return on_runtime(env, WebRuntime.EXPRESS, suffix, **web)


DEV = _express(APP_CONFIG.environment("dev"), "-x")
"""dev on Express: the placeholder image, no WAF."""
PROD = _express(APP_CONFIG.environment("prod"), "-x", image_tag=IMAGE_TAG)
"""prod on Express: an ECR image, WAF, retained data, the NIST 800-53 pack."""


def _synth(config: EnvironmentConfig) -> Templates:
    """Every tier (the ops stack holds the alarms), with cdk-nag: no unacknowledged finding
    (``synth_variant_tiers`` fails on one)."""
    return Templates(config, *synth_variant_tiers(config, Tier.OPS, nag=True).values())


@pytest.fixture(scope="module")
def dev() -> Templates:
    return _synth(DEV)


@pytest.fixture(scope="module")
def prod() -> Templates:
    return _synth(PROD)


@pytest.fixture(params=["dev", "prod"])
def variant(request: pytest.FixtureRequest) -> Templates:
    templates: Templates = request.getfixturevalue(request.param)
    return templates


def service_of(templates: Templates) -> tuple[str, dict[str, Any]]:
    logical_id, service = only(templates.web, SERVICE)
    return logical_id, service["Properties"]


def task_of(templates: Templates) -> tuple[str, dict[str, Any]]:
    logical_id, task = only(templates.web, "AWS::ECS::TaskDefinition")
    return logical_id, task["Properties"]


def main_container(templates: Templates) -> dict[str, Any]:
    containers: list[dict[str, Any]] = task_of(templates)[1]["ContainerDefinitions"]
    (main,) = [c for c in containers if c["Name"] == MAIN_CONTAINER]
    return main


# --- quality gates --------------------------------------------------------------------------------


def test_web_templates_pass_cfn_lint(dev: Templates, prod: Templates, tmp_path: Path) -> None:
    """cfn-lint's registry schema of AWS::ECS::ExpressGatewayService (TaskDefinitionArn, the
    network, scaling target) and the task definition; nag ran in the synth."""
    paths = []
    for templates in (dev, prod):
        path = tmp_path / f"{templates.config.name}.template.json"
        path.write_text(json.dumps(templates.web))
        paths.append(path)
    assert cfn_lint(paths, [DEV.region]) == ""


# --- the task definition is ours ----------------------------------------------------------------


def test_the_service_runs_our_task_definition_and_nothing_express_would_make(
    variant: Templates,
) -> None:
    _, service = service_of(variant)
    task_id, task = task_of(variant)
    assert service["TaskDefinitionArn"] == ref(task_id)
    for excluded in ("PrimaryContainer", "Cpu", "Memory", "ExecutionRoleArn", "TaskRoleArn"):
        assert excluded not in service
    assert "FARGATE" in task["RequiresCompatibilities"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    web = variant.config.web
    assert (task["Cpu"], task["Memory"]) == (str(web.cpu), str(web.memory_mib))
    main = main_container(variant)
    assert main["Name"] == MAIN_CONTAINER
    (mapping,) = main["PortMappings"]
    assert mapping == {"ContainerPort": web.container_port, "Name": "web", "Protocol": "tcp"}
    # Only Main takes traffic (the placeholder's scratch-permissions sidecar has no port).
    others = [c for c in task["ContainerDefinitions"] if c["Name"] != MAIN_CONTAINER]
    assert all("PortMappings" not in c for c in others)


def test_the_container_is_locked_down_like_fargates(variant: Templates) -> None:
    main = main_container(variant)
    assert main["ReadonlyRootFilesystem"] is True
    assert main["User"] == (APP_USER if variant.config.web.image_tag else PLACEHOLDER_USER)
    assert main["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert main["MountPoints"] == [
        {"ContainerPath": "/tmp", "ReadOnly": False, "SourceVolume": "scratch"}  # noqa: S108
    ]


def test_image_secrets_and_plain_settings(variant: Templates) -> None:
    main = main_container(variant)
    assert {secret["Name"] for secret in main["Secrets"]} == SECRET_VARIABLES
    assert {variable["Name"] for variable in main["Environment"]} == {
        "SESSION_TABLE",
        "HEALTH_PATH",
        "PORT",
    }
    image = json.dumps(main["Image"])
    if variant.config.web.image_tag:
        assert f":{IMAGE_TAG}" in image
        assert "web" in image
    else:
        assert main["Image"] == PLACEHOLDER_IMAGE


# --- roles ------------------------------------------------------------------------------------


def test_the_task_role_gets_exactly_the_two_secrets_and_the_session_table(
    variant: Templates,
) -> None:
    _, task = task_of(variant)
    (role_id, attribute) = task["TaskRoleArn"]["Fn::GetAtt"]
    assert attribute == "Arn"
    assert_runtime_role(variant, role_id)


def test_the_execution_role_pulls_one_image_writes_one_log_group_reads_the_two_secrets(
    variant: Templates,
) -> None:
    _, task = task_of(variant)
    (role_id, _) = task["ExecutionRoleArn"]["Fn::GetAtt"]
    role = variant.web["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    log_group = main_container(variant)["LogConfiguration"]["Options"]["awslogs-group"]
    granted: dict[str, set[str]] = {}
    for statement in policy_statements_of_role(variant.web, role_id):
        resource = json.dumps(statement["Resource"], sort_keys=True)
        granted.setdefault(resource, set()).update(actions_of(statement))
    assert granted.pop(json.dumps(get_att(log_group["Ref"], "Arn"))) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert "kms:Decrypt" in granted.pop(next(k for k in granted if "EnvironmentKey" in k))
    (secrets,) = [k for k, actions in granted.items() if actions == SECRET_READ]
    granted.pop(secrets)
    assert len(json.loads(secrets)) == 2  # the API client's secret and the app's own
    if variant.config.web.image_tag:
        assert granted.pop('"*"') == {"ecr:GetAuthorizationToken"}
        (repository,) = granted
        assert repository.endswith('repository/three-tier/prod-x/web"')
        assert granted.pop(repository) == ECR_PULL
    assert granted == {}


def test_the_infrastructure_role_is_ecs_with_aws_s_express_policy_only(dev: Templates) -> None:
    _, service = service_of(dev)
    (role_id, _) = service["InfrastructureRoleArn"]["Fn::GetAtt"]
    role = dev.web["Resources"][role_id]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "ecs.amazonaws.com"}
    (policy,) = role["ManagedPolicyArns"]
    assert policy["Fn::Join"][1][-1] == f":iam::aws:policy/{INFRASTRUCTURE_POLICY}"
    assert policy_statements_of_role(dev.web, role_id) == []


# --- network ----------------------------------------------------------------------------------


def test_tasks_run_in_the_app_subnets_admitting_the_port_from_them_only(variant: Templates) -> None:
    _, service = service_of(variant)
    network = service["NetworkConfiguration"]
    assert subnet_tiers(network["Subnets"], variant.network) == {"app"}
    (group,) = network["SecurityGroups"]
    group_id = group["Fn::GetAtt"][0]
    app_cidrs = {
        variant.network["Resources"][subnet]["Properties"]["CidrBlock"]
        for subnet in subnets_by_group(variant.network)["app"].values()
    }
    port = variant.config.web.container_port
    ingress = security_group_rules(variant.web, group_id, "ingress")
    assert {rule["CidrIp"] for rule in ingress} == app_cidrs
    assert {(rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) for rule in ingress} == {
        (port, port, "tcp")
    }
    (egress,) = security_group_rules(variant.web, group_id, "egress")
    assert (egress["CidrIp"], egress["FromPort"], egress["ToPort"]) == ("0.0.0.0/0", 443, 443)


def test_health_path_scaling_cluster_and_name(variant: Templates) -> None:
    service_id, service = service_of(variant)
    web = variant.config.web
    assert service["HealthCheckPath"] == web.health_path
    assert service["ScalingTarget"] == {
        "AutoScalingMetric": "AVERAGE_CPU",
        "AutoScalingTargetValue": 60,
        "MinTaskCount": web.min_instances,
        "MaxTaskCount": web.max_instances,
    }
    name = web_service_name(APP_CONFIG, variant.config)
    assert service["ServiceName"] == name
    cluster_id, cluster = only(variant.web, "AWS::ECS::Cluster")
    assert service["Cluster"] == ref(cluster_id)
    assert cluster["Properties"]["ClusterName"] == name
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"][
        "ClusterSettings"
    ]
    # The task and execution roles' policies exist before the first tasks start.
    depends = set(variant.web["Resources"][service_id]["DependsOn"])
    _, task = task_of(variant)
    roles = {task[arn]["Fn::GetAtt"][0] for arn in ("TaskRoleArn", "ExecutionRoleArn")}
    policies = {
        logical_id
        for logical_id, policy in resources(variant.web, "AWS::IAM::Policy").items()
        if {role["Ref"] for role in policy["Properties"]["Roles"]} & roles
    }
    assert len(policies) == 2
    assert policies | roles <= depends


# --- logs ---------------------------------------------------------------------------------------


def test_log_groups_are_created_here_first_with_the_environments_retention(
    variant: Templates,
) -> None:
    retention = variant.config.log_retention_days
    options = main_container(variant)["LogConfiguration"]["Options"]
    group = variant.web["Resources"][options["awslogs-group"]["Ref"]]
    assert group["Properties"]["RetentionInDays"] == retention
    name = web_service_name(APP_CONFIG, variant.config)
    (insights,) = [
        (logical_id, g)
        for logical_id, g in resources(variant.web, "AWS::Logs::LogGroup").items()
        if g["Properties"].get("LogGroupName") == f"/aws/ecs/containerinsights/{name}/performance"
    ]
    assert insights[1]["Properties"]["RetentionInDays"] == retention
    cluster_id, _ = only(variant.web, "AWS::ECS::Cluster")
    assert insights[0] in variant.web["Resources"][cluster_id]["DependsOn"]


# --- WAF, outputs, alarms -----------------------------------------------------------------------


def test_the_web_acl_is_associated_with_the_alb_express_creates(
    dev: Templates, prod: Templates
) -> None:
    assert not resources(dev.web, "AWS::WAFv2::WebACLAssociation")
    service_id, _ = service_of(prod)
    _, association = only(prod.web, "AWS::WAFv2::WebACLAssociation")
    assert association["Properties"]["ResourceArn"] == get_att(service_id, LOAD_BALANCER_ARN)


def test_outputs_url_service_arn_rollout_and_release(dev: Templates) -> None:
    service_id, _ = service_of(dev)
    url = output_value(dev.web, "PublicUrl")
    assert url["Fn::Join"][1][0] == "https://"  # then the endpoint's host name
    assert json.dumps(get_att(service_id, "Endpoint")) in json.dumps(url["Fn::Join"][1][1])
    assert output_value(dev.web, "ServiceId") == get_att(service_id, "ServiceArn")
    assert output_value(dev.web, "Rollout") == "cloudformation"
    release = WebRelease.from_json(output_value(dev.web, RELEASE_OUTPUT))
    assert (release.runtime, release.strategy, release.alarms) == ("express", "rolling", ())


def test_alarms_read_the_express_alb_and_the_services_tasks(prod: Templates) -> None:
    service_id, _ = service_of(prod)
    name = web_service_name(APP_CONFIG, prod.config)
    alarms = {
        alarm["Properties"]["AlarmDescription"].split(" at or above")[0]: alarm["Properties"]
        for alarm in resources(prod.ops, "AWS::CloudWatch::Alarm").values()
        if isinstance(alarm["Properties"].get("AlarmDescription"), str)
    }
    web_5xx = alarms["Express ALB 5XX"]
    for metric in (m for m in web_5xx["Metrics"] if "MetricStat" in m):
        stat = metric["MetricStat"]["Metric"]
        assert stat["Namespace"] == "AWS/ApplicationELB"
        (dimension,) = stat["Dimensions"]
        select = dimension["Value"]["Fn::Select"]
        assert select[0] == 1
        split = select[1]["Fn::Split"]
        assert split[0] == "loadbalancer/"
        assert imported(split[1], prod.web) == get_att(service_id, LOAD_BALANCER_ARN)
    tasks = alarms["running tasks < desired"]
    for metric in (m for m in tasks["Metrics"] if "MetricStat" in m):
        dimensions = metric["MetricStat"]["Metric"]["Dimensions"]
        assert {d["Name"]: d["Value"] for d in dimensions} == {
            "ClusterName": name,
            "ServiceName": name,
        }


# --- config ---------------------------------------------------------------------------------------


def test_the_spec_arm64_https_no_domain_spot_or_cidrs_rolling_only() -> None:
    spec = runtime_spec(WebRuntime.EXPRESS)
    assert (spec.architecture, spec.spot_architecture) == (CpuArchitecture.ARM64, None)
    assert (spec.https_without_domain, spec.custom_domain, spec.restricts_ingress) == (
        True,
        False,
        False,
    )
    assert spec.release_strategies == ExpressWebService.release_strategies
    assert spec.release_strategies == frozenset({WebReleaseStrategy.ROLLING})
    assert spec.cpu_memory is EXPRESS_CPU_MEMORY
    assert DEV.web.cpu_architecture is CpuArchitecture.ARM64


@pytest.mark.parametrize(
    ("field", "changes", "allowed"),
    [
        ("web.spot", {"spot": True}, "spot=False with express"),
        (
            "web.allowed_ingress_cidrs",
            {"allowed_ingress_cidrs": ("203.0.113.0/24",)},
            "allowed_ingress_cidrs=('0.0.0.0/0',) with express",
        ),
        (
            "web.domain_name",
            {"domain_name": "www.example.com", "hosted_zone_id": "Z1"},
            "domain_name=None with express",
        ),
        ("web.cpu/web.memory_mib", {"cpu": 4096, "memory_mib": 16384}, "cpu 4096: memory 8192"),
        ("web.cpu/web.memory_mib", {"cpu": 8192, "memory_mib": 16384}, "cpu 256: memory 512"),
        (
            "web.release.strategy",
            {"release": WebReleaseConfig(strategy=WebReleaseStrategy.CANARY)},
            "rolling with express",
        ),
    ],
)
def test_config_refuses_what_express_cannot_take(
    field: str, changes: dict[str, Any], allowed: str
) -> None:
    base = {"runtime": WebRuntime.EXPRESS, "spot": False, "release": WebReleaseConfig()}
    error = error_of(lambda: with_web("dev", **{**base, **changes}))
    assert_one_line(error, "dev", field, allowed)


def test_a_deploy_refuses_express_in_one_line_synth_builds_it() -> None:
    """The load balancer would be internal (the tasks are in the app subnets): neither users
    nor the canary could reach it (stacks/config/runtimes.py)."""
    config = real_with("dev", web={"runtime": WebRuntime.EXPRESS, "spot": False})
    error = deploy_error(config, "dev")
    assert_one_line(error, "dev", "web.runtime", "fargate", "app_runner")
    assert "internal" in str(error)
    assert "express" not in str(error).split("; allowed: ", 1)[1]


# --- construct guards -------------------------------------------------------------------------


def _props(stack: Stack) -> WebRuntimeProps:
    vpc = ec2.Vpc(stack, "Vpc", availability_zones=["us-east-1a", "us-east-1b"])
    return WebRuntimeProps(
        name="web",
        vpc=vpc,
        public_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        app_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        image=PublicImage(PLACEHOLDER_IMAGE),
        port=8080,
        health_path="/healthz",
        cpu=256,
        memory_mib=512,
        min_instances=1,
        max_instances=1,
        log_retention=logs.RetentionDays.TWO_WEEKS,
        removal_policy=RemovalPolicy.DESTROY,
    )


def test_the_construct_refuses_what_config_refuses_first() -> None:
    stack = Stack(scratch_app(), "Guards", env=ENV)
    props = _props(stack)
    canary = WebReleaseConfig(strategy=WebReleaseStrategy.CANARY)
    with pytest.raises(ValueError, match=r"^express cannot release with canary"):
        ExpressWebService(
            stack, "Canary", props=replace(props, release=WebReleasePlan(canary, AlarmThresholds()))
        )
    with pytest.raises(ValueError, match="cpu 4096 with memory 16384"):
        ExpressWebService(stack, "Big", props=replace(props, cpu=4096, memory_mib=16384))
    with pytest.raises(ValueError, match="min"):
        ExpressWebService(stack, "Zero", props=replace(props, min_instances=0))
    settings = DEV.web
    with pytest.raises(ValueError, match="no custom domain"):
        ExpressWebService.build(
            stack, "Domain", props=props, settings=_unchecked(settings, domain_name="a.example")
        )
    with pytest.raises(ValueError, match="no ingress CIDRs"):
        ExpressWebService.build(
            stack,
            "Cidrs",
            props=props,
            settings=_unchecked(settings, allowed_ingress_cidrs=("203.0.113.0/24",)),
        )
    assert (
        ExpressWebService.deploy_permissions(
            service_name="x", partition="aws", region="us-east-1", account="1" * 12
        )
        == ()
    )


class _Settings:
    """Web settings as config would refuse them (the construct's own guard is under test)."""

    def __init__(self, base: Any, **changes: Any) -> None:
        self._base, self._changes = base, changes

    def __getattr__(self, name: str) -> Any:
        return self._changes[name] if name in self._changes else getattr(self._base, name)


def _unchecked(base: Any, **changes: Any) -> Any:
    return _Settings(base, **changes)


def test_the_express_example_web_template_matches_its_snapshot(
    dev: Templates, snapshot: SnapshotAssertion
) -> None:
    """The Express Mode example (dev's shape on ``express``; no shipped environment can deploy
    it yet): its whole web template, like the shipped environments' snapshots."""
    snapshot_json = snapshot.use_extension(JSONSnapshotExtension)
    assert mask_asset_hashes(dev.web) == snapshot_json
