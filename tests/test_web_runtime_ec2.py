"""The EC2 web runtime (``web.runtime = ec2``): dev on it (the placeholder, no domain) and prod on
it (a private image, a domain, WAF, retained data, NIST), both with cdk-nag and through
cfn-lint; and the construct alone in a scratch stack (no context lookup, its attributes, what it
refuses). Relations, not ids."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk import Environment, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager

from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.monitoring import PERIOD
from cdk_constructs.nag import acknowledge
from cdk_constructs.options import (
    EC2_CPU_MEMORY,
    EC2_INSTANCE_TYPES,
    ProtectedKind,
    WebReleaseStrategy,
    WebRuntime,
)
from cdk_constructs.web_runtime.ec2 import (
    INSTANCE_TAG,
    REFRESH_WARMUP,
    Ec2Options,
    Ec2WebService,
)
from cdk_constructs.web_runtime.ec2_boot import READY_HOOK, BootPlan, boot_commands
from cdk_constructs.web_runtime.factory import web_runtime_type
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE, PublicImage, RepositoryImage
from cdk_constructs.web_runtime.interface import (
    ROLLING_ONLY,
    WebReleasePlan,
    WebRuntimeProps,
)
from cdk_constructs.web_runtime.rollout import Rollout
from cost.estimate import estimate
from cost.lines import LineKind
from cost.prices import load_prices
from cost.templates import load_assemblies
from release.aws import Clients, Clock, StackInfo
from release.contract import RELEASE_OUTPUT, WebRelease, watches_ecs
from release.outcome import State
from release.web import inspect_web
from stacks.config import APP_CONFIG, EnvironmentConfig
from stacks.config.runtimes import runtime_spec
from stacks.config.sections import AlarmThresholds, WebConfig, WebReleaseConfig
from stacks.platform_app import add_quality_gates
from tests.config_helpers import assert_one_line, error_of, with_web
from tests.network_cases import vpc_network
from tests.synth import Tier, cfn_lint, scratch_app, synth_variant_tiers
from tests.template_queries import (
    get_att,
    only,
    output_value,
    policy_statements_of_role,
    ref,
    references,
    resources,
    security_group_rules,
)
from tests.web_variants import IMAGE_TAG, Templates, assert_runtime_role, subnet_tiers

SSM_IMAGE = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
AL2023_ARM64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
ENV = Environment(account="111111111111", region="us-east-1")


def on_ec2(env: EnvironmentConfig, **web: Any) -> EnvironmentConfig:
    return replace(
        env,
        name=f"{env.name}ec2",
        branch=f"{env.branch}-ec2",
        web=replace(env.web, runtime=WebRuntime.EC2, spot=False, release=WebReleaseConfig(), **web),
    )


def synthesized(config: EnvironmentConfig, lint_dir: Path) -> Templates:
    """Every tier with cdk-nag (no unacknowledged finding) and CDK's template checks; the web
    and ops templates written to ``lint_dir`` for cfn-lint."""
    tiers = synth_variant_tiers(config, Tier.OPS, nag=True)
    for tier in (Tier.WEB, Tier.OPS):
        (lint_dir / f"{config.name}-{tier}.template.json").write_text(json.dumps(tiers[tier]))
    return Templates(config, *(tiers[tier] for tier in Tier))


@pytest.fixture(scope="module")
def lint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ec2-lint")


@pytest.fixture(scope="module")
def dev(lint_dir: Path) -> Templates:
    return synthesized(on_ec2(APP_CONFIG.environment("dev")), lint_dir)


@pytest.fixture(scope="module")
def prod(lint_dir: Path) -> Templates:
    return synthesized(on_ec2(APP_CONFIG.environment("prod"), image_tag=IMAGE_TAG), lint_dir)


@pytest.fixture(params=["dev", "prod"])
def env(request: pytest.FixtureRequest) -> Templates:
    templates: Templates = request.getfixturevalue(request.param)
    return templates


def group_of(templates: Templates) -> tuple[str, dict[str, Any]]:
    group_id, group = only(templates.web, "AWS::AutoScaling::AutoScalingGroup")
    return group_id, group


def launch_data(templates: Templates) -> dict[str, Any]:
    _, template = only(templates.web, "AWS::EC2::LaunchTemplate")
    data: dict[str, Any] = template["Properties"]["LaunchTemplateData"]
    return data


def user_data(templates: Templates) -> str:
    """The boot script, each intrinsic function shown as ``<json>``."""
    encoded = launch_data(templates)["UserData"]["Fn::Base64"]
    parts = encoded["Fn::Join"][1] if isinstance(encoded, dict) else [encoded]
    return "".join(p if isinstance(p, str) else f"<{json.dumps(p)}>" for p in parts)


def instance_role_id(templates: Templates) -> str:
    (role_id,) = [
        logical_id
        for logical_id, role in resources(templates.web, "AWS::IAM::Role").items()
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "ec2.amazonaws.com"}
    ]
    return role_id


def service_log_group_id(templates: Templates) -> str:
    """The container's log group (the web stack holds CDK's function log groups too)."""
    (found,) = [
        logical_id
        for logical_id in resources(templates.web, "AWS::Logs::LogGroup")
        if logical_id.startswith("ServiceLogGroup")
    ]
    return found


def release_of(templates: Templates) -> WebRelease:
    return WebRelease.from_json(output_value(templates.web, RELEASE_OUTPUT))


# --- registry, config and the release tooling -----------------------------------------------------


def test_the_registry_config_and_release_tooling_know_the_runtime() -> None:
    runtime = web_runtime_type(WebRuntime.EC2)
    assert runtime is Ec2WebService
    assert runtime.rollout is Rollout.CLOUDFORMATION
    assert (
        runtime.release_strategies
        == ROLLING_ONLY
        == runtime_spec(WebRuntime.EC2).release_strategies
    )
    assert (
        runtime.deploy_permissions(
            service_name="x", partition="aws", region="us-east-1", account="1"
        )
        == ()
    )
    assert not watches_ecs(WebRuntime.EC2)  # verify reads no ECS service deployment
    prices = load_prices().ec2_instance_hour
    assert set(EC2_INSTANCE_TYPES.values()) <= set(prices)


def test_release_verify_reports_the_stack_updates_refresh_and_reads_no_ecs(
    dev: Templates,
) -> None:
    """CloudFormation ran the instance refresh within the stack update: nothing to wait for, no
    ECS service to read (a client that is called fails the test)."""
    stack = StackInfo(
        name="three-tier-devec2-web",
        outputs={key: str(output["Value"]) for key, output in dev.web["Outputs"].items()},
        updated=datetime(2026, 1, 1, tzinfo=UTC),
        status="UPDATE_COMPLETE",
    )
    outcome = inspect_web(cast(Clients, object()), stack, stack.updated, None, cast(Clock, None))
    assert outcome.state is State.BY_STACK
    assert outcome.line == "web: the stack update's instance refresh replaced the instances"
    assert outcome.alarms == release_of(dev).alarms


@pytest.mark.parametrize(("cpu", "memory"), sorted(EC2_INSTANCE_TYPES))
def test_config_accepts_each_size_the_runtime_offers(cpu: int, memory: int) -> None:
    web = WebConfig(runtime=WebRuntime.EC2, cpu=cpu, memory_mib=memory)
    assert web.cpu_architecture.value == "ARM64"
    assert memory in EC2_CPU_MEMORY[cpu]


def test_config_refuses_a_size_spot_and_a_strategy_the_runtime_lacks_in_one_line() -> None:
    error = error_of(lambda: with_web("staging", runtime=WebRuntime.EC2, cpu=256, memory_mib=2048))
    assert_one_line(error, "staging", "web.cpu/web.memory_mib", "cpu 256: memory 512, 1024")
    error = error_of(lambda: with_web("staging", runtime=WebRuntime.EC2, spot=True))
    assert_one_line(error, "staging", "web.spot", "spot=False with ec2")
    canary = WebReleaseConfig(strategy=WebReleaseStrategy.CANARY)
    error = error_of(lambda: with_web("staging", runtime=WebRuntime.EC2, release=canary))
    assert_one_line(error, "staging", "web.release.strategy", "rolling with ec2")


# --- launch template ------------------------------------------------------------------------------


def test_the_launch_template_is_graviton_al2023_from_ssm_imdsv2_encrypted_and_closed(
    env: Templates,
) -> None:
    data = launch_data(env)
    web = env.config.web
    assert data["InstanceType"] == EC2_INSTANCE_TYPES[(web.cpu, web.memory_mib)]
    assert data["InstanceType"].startswith("t4g.")
    (parameter,) = [
        env.web["Parameters"][name]
        for name in env.web["Parameters"]
        if data["ImageId"] == ref(name)
    ]
    # Resolved by CloudFormation at each deploy from AWS's public parameter: no lookup at synth.
    assert parameter == {"Type": SSM_IMAGE, "Default": AL2023_ARM64}
    assert data["MetadataOptions"] == {
        "HttpEndpoint": "enabled",
        "HttpPutResponseHopLimit": 2,
        "HttpTokens": "required",
        "InstanceMetadataTags": "disabled",
    }
    ((root),) = data["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/xvda"
    assert root["Ebs"] == {
        "DeleteOnTermination": True,
        "Encrypted": True,
        "VolumeSize": 20,
        "VolumeType": "gp3",
    }
    assert "KeyName" not in data
    assert data["Monitoring"] == {"Enabled": True}
    ((interface),) = data["NetworkInterfaces"]
    assert interface["AssociatePublicIpAddress"] is False
    assert interface["Groups"] == [get_att(instance_group_id(env), "GroupId")]


def instance_group_id(templates: Templates) -> str:
    (group_id,) = [
        logical_id
        for logical_id, group in resources(templates.web, "AWS::EC2::SecurityGroup").items()
        if group["Properties"]["GroupDescription"].startswith("Web instances")
    ]
    return group_id


# --- the group, its release and its relations -----------------------------------------------------


def test_the_group_spans_the_app_subnets_with_the_configured_sizes_behind_the_target_group(
    env: Templates,
) -> None:
    _, group = group_of(env)
    props = group["Properties"]
    web = env.config.web
    assert subnet_tiers(props["VPCZoneIdentifier"], env.network) == {"app"}
    assert len(props["VPCZoneIdentifier"]) == 2
    assert (props["MinSize"], props["MaxSize"]) == (str(web.min_instances), str(web.max_instances))
    assert "DesiredCapacity" not in props  # scaling owns it; a deploy never resets it
    assert props["HealthCheckType"] == "ELB"
    assert props["AutoScalingGroupName"] == f"{APP_CONFIG.app_name}-{env.config.name}-web"
    target_id, target = only(env.web, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert props["TargetGroupARNs"] == [ref(target_id)]
    assert target["Properties"]["TargetType"] == "instance"
    assert target["Properties"]["Port"] == web.container_port
    assert target["Properties"]["HealthCheckPath"] == web.health_path
    assert target["Properties"]["Matcher"] == {"HttpCode": "200"}
    policies = resources(env.web, "AWS::AutoScaling::ScalingPolicy").values()
    if web.max_instances == web.min_instances:
        assert not policies  # a fixed size: nothing to track (dev)
    else:
        ((policy),) = policies
        tracking = policy["Properties"]["TargetTrackingConfiguration"]
        assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
            "ASGAverageCPUUtilization"
        )
    tags = {tag["Key"]: tag for tag in props["Tags"]}
    assert tags[INSTANCE_TAG] == {
        "Key": INSTANCE_TAG,
        "Value": props["AutoScalingGroupName"],
        "PropagateAtLaunch": True,
    }


def test_a_release_is_an_instance_refresh_that_the_release_alarms_fail(env: Templates) -> None:
    group_id, group = group_of(env)
    release = release_of(env)
    assert (release.runtime, release.strategy, release.bake_minutes) == ("ec2", "rolling", 0)
    alarm_names = {
        logical_id: alarm["Properties"]["AlarmName"]
        for logical_id, alarm in resources(env.web, "AWS::CloudWatch::Alarm").items()
    }
    assert sorted(alarm_names.values()) == sorted(release.alarms)
    name = f"{APP_CONFIG.app_name}-{env.config.name}-web"
    assert set(release.alarms) == {
        f"{name}-release-{what}" for what in ("5xx-rate", "p99", "unhealthy", "canary")
    }
    policy = group["UpdatePolicy"]
    assert "AutoScalingRollingUpdate" not in policy
    assert "CreationPolicy" not in group  # a refresh does not use cfn-signal
    refresh = policy["AutoScalingInstanceRefresh"]
    assert refresh["Strategy"] == "Rolling"
    preferences = refresh["Preferences"]
    # Launch before terminate: the old instances serve until the new ones are in and warm.
    assert (preferences["MinHealthyPercentage"], preferences["MaxHealthyPercentage"]) == (100, 200)
    assert preferences["InstanceWarmup"] == REFRESH_WARMUP.to_seconds()
    assert preferences["BakeTime"] > 0
    assert preferences["AlarmSpecification"]["Alarms"] == list(release.alarms)
    # The refresh names the alarms: they exist before the group.
    assert set(group["DependsOn"]) >= set(alarm_names)
    for alarm in resources(env.web, "AWS::CloudWatch::Alarm").values():
        assert "AlarmActions" not in alarm["Properties"]
    outputs = env.web["Outputs"]
    assert outputs["Rollout"]["Value"] == Rollout.CLOUDFORMATION.value
    assert outputs["ServiceId"]["Value"] == ref(group_id)


def test_a_new_instance_is_held_out_of_service_until_its_container_answers(
    env: Templates,
) -> None:
    _group_id, group = group_of(env)
    (hook,) = group["Properties"]["LifecycleHookSpecificationList"]
    assert hook["LifecycleHookName"] == READY_HOOK
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
    assert hook["DefaultResult"] == "CONTINUE"
    script = user_data(env)
    name = group["Properties"]["AutoScalingGroupName"]
    assert (
        f"complete-lifecycle-action --region {env.config.region} --auto-scaling-group-name "
        f"{name} --lifecycle-hook-name {READY_HOOK}"
    ) in script
    assert "trap ready EXIT" in script
    web = env.config.web
    assert f"http://127.0.0.1:{web.container_port}{web.health_path}" in script
    statements = policy_statements_of_role(env.web, instance_role_id(env))
    (complete,) = [s for s in statements if s["Action"] == "autoscaling:CompleteLifecycleAction"]
    assert f":autoScalingGroup:*:autoScalingGroupName/{name}" in json.dumps(complete["Resource"])


# --- network relations ----------------------------------------------------------------------------


def test_the_alb_admits_its_listener_ports_the_instances_the_container_port_and_nothing_port_22(
    env: Templates,
) -> None:
    (alb_group_id,) = [
        logical_id
        for logical_id, group in resources(env.web, "AWS::EC2::SecurityGroup").items()
        if group["Properties"]["GroupDescription"].startswith("Public ALB")
    ]
    ports = {80, 443} if env.config.web.domain_name else {80}
    ingress = security_group_rules(env.web, alb_group_id, "ingress")
    assert {(rule["FromPort"], rule["CidrIp"]) for rule in ingress} == {
        (port, cidr) for port in ports for cidr in env.config.web.allowed_ingress_cidrs
    }
    instances = instance_group_id(env)
    (admitted,) = security_group_rules(env.web, instances, "ingress")
    port = env.config.web.container_port
    assert (admitted["FromPort"], admitted["ToPort"]) == (port, port)
    assert admitted["SourceSecurityGroupId"] == get_att(alb_group_id, "GroupId")
    egress = security_group_rules(env.web, instances, "egress")
    assert [(rule["FromPort"], rule["ToPort"], rule["CidrIp"]) for rule in egress] == [
        (443, 443, "0.0.0.0/0")
    ]
    for group_id in resources(env.web, "AWS::EC2::SecurityGroup"):
        for rule in security_group_rules(env.web, group_id, "ingress"):
            assert rule["IpProtocol"] == "tcp"
            assert not rule["FromPort"] <= 22 <= rule["ToPort"], rule


def test_the_web_acl_and_the_rollback_guard_cover_the_alb(prod: Templates) -> None:
    alb_id, alb = only(prod.web, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert alb["Properties"]["Scheme"] == "internet-facing"
    _, association = only(prod.web, "AWS::WAFv2::WebACLAssociation")
    assert association["Properties"]["ResourceArn"] == ref(alb_id)
    (guard,) = resources(prod.web, "Custom::CreateRollbackGuard").values()
    assert guard["Properties"]["Kind"] == ProtectedKind.LOAD_BALANCER.value
    assert alb_id in references(guard)
    assert output_value(prod.web, "PublicUrl") == f"https://{prod.config.web.domain_name}"


# --- boot: the container as on Fargate ------------------------------------------------------------


def test_the_boot_script_installs_docker_from_al2023_and_runs_the_container_as_fargate_would(
    env: Templates,
) -> None:
    script = user_data(env)
    web = env.config.web
    assert "retry dnf install -y docker" in script
    assert "github" not in script.lower()
    assert "| sh" not in script
    assert "| bash" not in script
    (run,) = [line for line in script.splitlines() if line.startswith("docker run ")]
    for option in (
        "--restart always",
        f"--publish {web.container_port}:{web.container_port}",
        "--read-only",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        f"--memory {web.memory_mib}m",
        "--log-driver awslogs",
    ):
        assert f" {option} " in run, option
    log_group_id = service_log_group_id(env)
    assert f"--log-opt awslogs-group='<{json.dumps(ref(log_group_id))}>'" in run
    plain = {"HEALTH_PATH", "PORT", "SESSION_TABLE", *web.environment}
    secret = {"API_CLIENT_ID", "API_CLIENT_SECRET", "API_TOKEN_URL", "API_SCOPES"}
    secret |= {"API_BASE_URL", "APP_SECRETS"}
    words = run.split(" ")
    (image_at,) = [
        i for i, word in enumerate(words) if word == PLACEHOLDER_IMAGE or "/web:" in word
    ]
    passed = [words[i + 1] for i, word in enumerate(words[:image_at]) if word == "-e"]
    assert {word.split("=", 1)[0] for word in passed if "=" in word} == plain
    # A secret goes by name only: Docker copies its value from the environment the script read
    # it into with the instance role, so no value is in the template or the user data.
    assert {word for word in passed if "=" not in word} == secret
    for name in secret:
        assert f"{name}=$(retry secret " in script
    assert "resolve:secretsmanager" not in json.dumps(env.web)
    if web.image_tag:
        assert f"/three-tier/{env.config.name}/web:{web.image_tag}" in run
        assert "aws ecr get-login-password" in script
        assert "--user 10001:10001" in run
    else:
        assert f" {PLACEHOLDER_IMAGE} " in run
        assert "aws ecr" not in script
        assert "--user 101:101" in run


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_boot_script_is_valid_bash(env: Templates) -> None:
    checked = subprocess.run(
        ["bash", "-n"], input=user_data(env), text=True, capture_output=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_the_boot_plan_refuses_variables_a_shell_cannot_pass() -> None:
    stack = Stack(scratch_app(), "Boot", env=ENV)
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "Secret", "app")
    plan = BootPlan(
        image=PublicImage(PLACEHOLDER_IMAGE),
        image_uri=PLACEHOLDER_IMAGE,
        registry=None,
        port=8080,
        health_path="/healthz",
        memory_mib=512,
        environment={"BAD-NAME": "x"},
        secrets=(),
        log_group_name="group",
        auto_scaling_group_name="group",
        region="us-east-1",
    )
    with pytest.raises(ValueError, match="shell names"):
        boot_commands(plan)
    with pytest.raises(ValueError, match="defined twice"):
        boot_commands(
            replace(
                plan,
                environment={"PORT": "8080"},
                secrets=(ContainerSecret(name="PORT", secret=secret),),
            )
        )


# --- the instance role ----------------------------------------------------------------------------


def test_the_instance_role_is_the_apps_plus_session_manager_logs_pull_and_its_hook(
    env: Templates,
) -> None:
    role_id = instance_role_id(env)
    assert_runtime_role(env, role_id)  # the two secrets and the session table, as on Fargate
    log_group_id = service_log_group_id(env)
    grants: dict[str, set[str]] = {}
    for statement in policy_statements_of_role(env.web, role_id):
        actions = statement["Action"]
        for action in actions if isinstance(actions, list) else [actions]:
            grants.setdefault(action, set()).add(json.dumps(statement["Resource"]))
    assert grants["logs:PutLogEvents"] == grants["logs:CreateLogStream"]
    # The container's log group (and the operators' session log group, operator_access.py).
    assert any(log_group_id in resource for resource in grants["logs:PutLogEvents"])
    if env.config.web.image_tag:
        assert grants["ecr:GetAuthorizationToken"] == {'"*"'}
        (pull,) = grants["ecr:BatchGetImage"]
        assert f"/three-tier/{env.config.name}/web" in pull
    else:
        assert not [action for action in grants if action.startswith("ecr:")]


# --- monitoring and cost --------------------------------------------------------------------------


def test_the_ops_stack_alarms_on_the_alb_and_the_group(dev: Templates) -> None:
    alarms = [
        alarm["Properties"] for alarm in resources(dev.ops, "AWS::CloudWatch::Alarm").values()
    ]
    descriptions = {a["AlarmDescription"] for a in alarms if isinstance(a["AlarmDescription"], str)}
    for what in (
        "ALB 5XX at or above",
        "unhealthy targets at or above",
        f"healthy targets < {dev.config.web.min_instances} (the group's minimum) at or above",
        "target response time p99 (s) at or above",
    ):
        assert any(description.startswith(what) for description in descriptions), what
    (p99,) = [a for a in alarms if str(a["AlarmDescription"]).startswith("target response time")]
    assert p99["Threshold"] == AlarmThresholds().web_p99_response_ms / 1000
    assert p99["ExtendedStatistic"] == "p99"
    assert p99["Period"] == PERIOD.to_seconds()


def test_make_cost_prices_the_groups_minimum_instances(dev: Templates, tmp_path: Path) -> None:
    folder = tmp_path / "assembly-devec2"
    folder.mkdir()
    for tier in Tier:
        (folder / f"{tier}.template.json").write_text(json.dumps(getattr(dev, tier.value)))
    (assembly,) = load_assemblies(tmp_path)
    result = estimate(assembly, load_prices())
    assert not [u for u in result.unpriced if u.stack == "web"], result.unpriced
    web = dev.config.web
    instance_type = EC2_INSTANCE_TYPES[(web.cpu, web.memory_mib)]
    lines = {line.kind: line for line in result.lines if line.description.startswith("Auto")}
    (instances,) = lines.values()
    assert instances.kind is LineKind.EC2_INSTANCE
    assert instances.quantity == web.min_instances
    assert instances.unit_price_usd == load_prices().ec2_instance_hour[instance_type].usd
    volumes = [line for line in result.lines if line.kind is LineKind.EBS_VOLUME]
    assert sum(line.quantity for line in volumes) >= Decimal(20 * web.min_instances)


def test_the_variants_pass_cfn_lint(dev: Templates, prod: Templates, lint_dir: Path) -> None:
    assert cfn_lint(sorted(lint_dir.glob("*.template.json")), ["us-east-1"]) == ""


# --- the construct alone --------------------------------------------------------------------------


def scratch_props(stack: Stack, **overrides: Any) -> WebRuntimeProps:
    network = vpc_network(stack)
    props = WebRuntimeProps(
        name="test-web",
        vpc=network.vpc,
        public_subnets=network.public_subnets,
        app_subnets=network.app_subnets,
        image=PublicImage(PLACEHOLDER_IMAGE),
        port=8080,
        health_path="/healthz",
        cpu=1024,
        memory_mib=4096,
        min_instances=2,
        max_instances=4,
        log_retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=RemovalPolicy.DESTROY,
    )
    return replace(props, **overrides)


def test_the_construct_synthesizes_without_any_context_lookup(tmp_path: Path) -> None:
    app = scratch_app(tmp_path / "out")
    stack = Stack(app, "Ec2", env=ENV)
    repository = ecr.Repository(stack, "Repository", removal_policy=RemovalPolicy.DESTROY)
    secret = secretsmanager.Secret(stack, "AppSecret", removal_policy=RemovalPolicy.DESTROY)
    acknowledge(secret, "AwsSolutions-SMG4", "Test fixture: a secret the service reads.")
    props = scratch_props(
        stack,
        image=RepositoryImage(repository, "v1"),
        secrets=(ContainerSecret(name="APP_SECRETS", secret=secret, field="key"),),
    )
    service = Ec2WebService(
        stack, "Web", props=props, options=Ec2Options(allowed_ingress_cidrs=["10.1.0.0/16"])
    )
    add_quality_gates(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag error
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    # No lookup (nothing for cdk.context.json) but the test network's AZs (tests/network_cases).
    lookups = {missing["provider"] for missing in manifest.get("missing", [])}
    assert lookups <= {"availability-zones"}
    assert not (tmp_path / "cdk.context.json").exists()
    assert service.instance_type == "t4g.large"
    assert service.auto_scaling_group_name == "test-web"
    assert service.instance_tag == (INSTANCE_TAG, "test-web")
    assert service.runtime_role is service.instance_role
    assert stack.resolve(service.service_id) == ref(
        stack.get_logical_id(service.auto_scaling_group.node.default_child)  # type: ignore[arg-type]
    )
    assert service.release.alarms == ()  # no release plan: no release alarm
    template = dict(assembly.get_stack_by_name("Ec2").template)
    _, group = only(template, "AWS::AutoScaling::AutoScalingGroup")
    assert (
        "AlarmSpecification"
        not in group["UpdatePolicy"]["AutoScalingInstanceRefresh"]["Preferences"]
    )
    assert len(service.alarm_sources(AlarmThresholds(), period=PERIOD)) == 4


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"cpu": 256, "memory_mib": 2048}, "no instance for cpu 256 with memory 2048"),
        ({"min_instances": 3, "max_instances": 2}, r"need 1 <= min \(3\) <= max \(2\)"),
        (
            {
                "release": WebReleasePlan(
                    WebReleaseConfig(strategy=WebReleaseStrategy.LINEAR, step_percent=10),
                    AlarmThresholds(),
                )
            },
            r"^ec2 cannot release with linear \(it runs: rolling\)$",
        ),
    ],
)
def test_the_construct_refuses_what_config_refuses_in_one_line(
    overrides: dict[str, Any], refusal: str
) -> None:
    stack = Stack(scratch_app(), "Refused", env=ENV)
    with pytest.raises(ValueError, match=refusal):
        Ec2WebService(
            stack,
            "Web",
            props=scratch_props(stack, **overrides),
            options=Ec2Options(allowed_ingress_cidrs=["0.0.0.0/0"]),
        )
