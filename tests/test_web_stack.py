"""The web tier per environment, on Fargate (shipped) and on App Runner, with and without an
image tag and a domain: relations, secrets, permissions, WAF, canary."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from cdk_constructs.app_runner_service import XRAY_WRITE_ACTIONS
from cdk_constructs.options import CpuArchitecture, WebRuntime
from stacks import delivery
from stacks.config import APP_CONFIG, AppConfig, EnvironmentConfig, repository_name
from stacks.platform_app import build_platform, unacknowledged_findings
from stacks.web_stack import API_CLIENT_FIELDS, APP_SECRETS_VARIABLE, PLACEHOLDER_IMAGE
from tests.conftest import Synthesized, SynthesizedEnv, cdk_json_context, cfn_lint
from tests.template_queries import (
    get_att,
    imported,
    only,
    policy_statements_of_role,
    ref,
    resources,
    security_group_rules,
    subnets_by_group,
)
from tests.test_log_retention import implicit_log_group_retention, log_group_problems

SECRET_VARIABLES = {*API_CLIENT_FIELDS, APP_SECRETS_VARIABLE}
SESSION_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
}
IMAGE_TAG = "3f2c1e0"


def actions_of(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


def tiers(network: dict[str, Any]) -> dict[str, str]:
    return {
        subnet: tier
        for tier, by_zone in subnets_by_group(network).items()
        for subnet in by_zone.values()
    }


def subnet_tiers(subnet_ids: list[Any], network: dict[str, Any]) -> set[str]:
    tier_of = tiers(network)
    return {tier_of[imported(subnet, network)["Ref"]] for subnet in subnet_ids}


def group_of(value: dict[str, Any]) -> str:
    logical_id, attribute = value["Fn::GetAtt"]
    assert attribute == "GroupId"
    return str(logical_id)


def secret_ids(templates: Templates) -> tuple[Any, str]:
    """(reference to the API stack's web client secret, logical id of the app secret)."""
    app_secret_id, _ = only(templates.web, "AWS::SecretsManager::Secret")
    client_secret = [
        logical_id
        for logical_id, secret in resources(templates.api, "AWS::SecretsManager::Secret").items()
        if "api-client" in secret["Properties"]["Name"]
    ]
    assert len(client_secret) == 1
    return client_secret[0], app_secret_id


class Templates:
    """The templates of one synthesized environment."""

    def __init__(
        self,
        config: EnvironmentConfig,
        network: Any,
        data: Any,
        api: Any,
        web: Any,
        ops: Any = None,
    ):
        self.config = config
        self.network: dict[str, Any] = network
        self.data: dict[str, Any] = data
        self.api: dict[str, Any] = api
        self.web: dict[str, Any] = web
        self.ops: dict[str, Any] | None = ops


def _synth(config: AppConfig, outdir: Path) -> dict[str, Templates]:
    app = App(outdir=str(outdir), context=cdk_json_context())
    stages = build_platform(app, config, config.environments)
    app.synth()
    assert unacknowledged_findings(outdir) == []

    def load(stage: Any, stack: Any) -> dict[str, Any]:
        template: dict[str, Any] = json.loads(
            (outdir / stage.artifact_id / stack.template_file).read_text()
        )
        return template

    return {
        name: Templates(
            stage.env_config,
            load(stage, stage.network),
            load(stage, stage.data),
            load(stage, stage.api),
            load(stage, stage.web),
            load(stage, stage.ops),
        )
        for name, stage in stages.items()
    }


def _variant(env: EnvironmentConfig, suffix: str, **web: Any) -> EnvironmentConfig:
    return replace(
        env,
        name=f"{env.name}{suffix}",
        branch=f"{env.branch}-{suffix}",
        web=replace(env.web, **web),
    )


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Templates]:
    """Every env on App Runner, dev on Fargate and on App Runner with an image tag, and
    staging on Fargate Spot."""
    environments: list[EnvironmentConfig] = []
    for env in APP_CONFIG.environments:
        environments.append(
            _variant(
                env,
                "ar",
                runtime=WebRuntime.APP_RUNNER,
                spot=False,
                domain_name=None,
                hosted_zone_id=None,
                hosted_zone_name=None,
            )
        )
    dev = APP_CONFIG.environment("dev")
    environments.append(_variant(dev, "img", image_tag=IMAGE_TAG))
    environments.append(
        _variant(dev, "arimg", runtime=WebRuntime.APP_RUNNER, spot=False, image_tag=IMAGE_TAG)
    )
    environments.append(_variant(APP_CONFIG.environment("staging"), "spot", spot=True))
    config = replace(APP_CONFIG, environments=tuple(environments))
    outdir = tmp_path_factory.mktemp("web-variants")
    templates = _synth(config, outdir)
    # The variants' web stacks pass cfn-lint too (their other stacks equal the shipped ones').
    regions = sorted({env.region for env in environments})
    assert cfn_lint(sorted(outdir.glob("assembly-*/*Web*.template.json")), regions) == ""
    return templates


def shipped(env: SynthesizedEnv) -> Templates:
    return Templates(env.config, env.network_json, env.data_json, env.api_json, env.web_json)


def all_fargate(env: SynthesizedEnv, variants: dict[str, Templates]) -> list[Templates]:
    return [shipped(env), variants["devimg"]] if env.config.name == "dev" else [shipped(env)]


# --- Fargate ---------------------------------------------------------------------------------


def test_alb_is_public_and_admits_only_its_listener_ports_from_the_allowed_cidrs(
    env: SynthesizedEnv,
) -> None:
    templates = shipped(env)
    web, config = templates.web, env.config.web
    _, alb = only(web, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    props = alb["Properties"]
    assert props["Scheme"] == "internet-facing"
    assert subnet_tiers(props["Subnets"], templates.network) == {"public"}
    attributes = {item["Key"]: item["Value"] for item in props["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == str(env.config.retain_data).lower()
    (alb_group,) = props["SecurityGroups"]
    ingress = security_group_rules(web, group_of(alb_group), "ingress")
    ports = {80, 443} if config.domain_name else {80}
    assert {(rule["CidrIp"], rule["FromPort"]) for rule in ingress} == {
        (cidr, port) for cidr in config.allowed_ingress_cidrs for port in ports
    }
    bucket_name = attributes["access_logs.s3.bucket"]
    bucket = web["Resources"][bucket_name["Ref"]]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90
    policies = [
        policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in resources(web, "AWS::S3::BucketPolicy").values()
        if policy["Properties"]["Bucket"] == bucket_name
    ]
    assert any(
        statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in policies[0]
    )


def test_tasks_admit_only_the_alb_and_send_only_https(env: SynthesizedEnv) -> None:
    templates = shipped(env)
    web, config = templates.web, env.config.web
    _, service = only(web, "AWS::ECS::Service")
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert subnet_tiers(network["Subnets"], templates.network) == {"app"}
    # One app subnet per AZ: ECS spreads the tasks over every zone (prod runs 2+ tasks).
    assert len(network["Subnets"]) == len(env.config.availability_zones) >= 2
    if env.config.retain_data:
        assert config.min_instances >= 2
    (service_group,) = network["SecurityGroups"]
    _, alb = only(web, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    (alb_group,) = alb["Properties"]["SecurityGroups"]
    ingress = security_group_rules(web, group_of(service_group), "ingress")
    assert [(rule["SourceSecurityGroupId"], rule["FromPort"]) for rule in ingress] == [
        (alb_group, config.container_port)
    ]
    egress = security_group_rules(web, group_of(service_group), "egress")
    assert [(rule["CidrIp"], rule["FromPort"], rule["ToPort"]) for rule in egress] == [
        ("0.0.0.0/0", 443, 443)
    ]
    # The execute-api endpoint admits the app subnets' traffic on 443 (the whole VPC).
    vpc_cidr = env.config.network.vpc_cidr
    endpoint_groups = [
        group["Properties"]
        for group in resources(templates.network, "AWS::EC2::SecurityGroup").values()
        if group["Properties"]["GroupDescription"].startswith("Interface VPC endpoints")
    ]
    (endpoint_ingress,) = endpoint_groups[0]["SecurityGroupIngress"]
    assert (endpoint_ingress["CidrIp"], endpoint_ingress["FromPort"]) == (vpc_cidr, 443)


def test_api_client_secret_points_at_the_private_api_by_its_endpoint_dns_name(
    env: SynthesizedEnv,
) -> None:
    """The web tier calls https://<api id>.execute-api.<region>.amazonaws.com/v1/, the name
    the execute-api endpoint's private DNS answers inside the VPC."""
    api = env.api_json
    client_secret_id, _ = secret_ids(shipped(env))
    parts = api["Resources"][client_secret_id]["Properties"]["SecretString"]["Fn::Join"][1]
    fields = json.loads("".join(part if isinstance(part, str) else "x" for part in parts))
    assert set(fields) == set(API_CLIENT_FIELDS.values())
    rest_api_id, rest_api = only(api, "AWS::ApiGateway::RestApi")
    base = parts.index(ref(rest_api_id))
    assert parts[base - 1].endswith('"api_base_url":"https://')
    assert parts[base + 1] == f".execute-api.{env.config.region}."
    (endpoint_ref,) = rest_api["Properties"]["EndpointConfiguration"]["VpcEndpointIds"]
    endpoint_id = imported(endpoint_ref, env.network_json)["Ref"]
    endpoint = env.network_json["Resources"][endpoint_id]["Properties"]
    assert endpoint["PrivateDnsEnabled"] is True
    assert "execute-api" in json.dumps(endpoint["ServiceName"])
    client_id, _ = only(api, "AWS::Cognito::UserPoolClient")
    assert parts[parts.index(ref(client_id)) - 1].endswith('"client_id":"')
    assert "client_secret" not in json.dumps(api.get("Outputs", {})).lower()


def test_service_runs_its_architecture_resilient_and_scales_between_min_and_max(
    env: SynthesizedEnv,
) -> None:
    web, config = env.web_json, env.config.web
    _, task = only(web, "AWS::ECS::TaskDefinition")
    props = task["Properties"]
    assert props["RuntimePlatform"]["CpuArchitecture"] == config.cpu_architecture
    assert config.cpu_architecture == ("X86_64" if config.spot else "ARM64")
    assert (props["Cpu"], props["Memory"]) == (str(config.cpu), str(config.memory_mib))
    _, service = only(web, "AWS::ECS::Service")
    deployment = service["Properties"]["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    strategy = service["Properties"]["CapacityProviderStrategy"]
    assert [item["CapacityProvider"] for item in strategy] == [
        "FARGATE_SPOT" if config.spot else "FARGATE"
    ]
    _, target = only(web, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (
        config.min_instances,
        config.max_instances,
    )
    _, policy = only(web, "AWS::ApplicationAutoScaling::ScalingPolicy")
    assert policy["Properties"]["PolicyType"] == "TargetTrackingScaling"
    _, target_group = only(web, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert target_group["Properties"]["HealthCheckPath"] == config.health_path


def test_https_with_a_domain_else_plain_http(env: SynthesizedEnv) -> None:
    web, config = env.web_json, env.config.web
    listeners = {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in resources(web, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    if config.domain_name is None:
        assert set(listeners) == {80}
        assert listeners[80]["DefaultActions"][0]["Type"] == "forward"
        assert resources(web, "AWS::CertificateManager::Certificate") == {}
        return
    assert set(listeners) == {80, 443}
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    _, certificate = only(web, "AWS::CertificateManager::Certificate")
    assert certificate["Properties"]["DomainName"] == config.domain_name
    assert certificate["Properties"]["ValidationMethod"] == "DNS"
    (validation,) = certificate["Properties"]["DomainValidationOptions"]
    assert validation["HostedZoneId"] == config.hosted_zone_id
    _, record = only(web, "AWS::Route53::RecordSet")
    assert record["Properties"]["Name"] == f"{config.domain_name}."
    assert record["Properties"]["HostedZoneId"] == config.hosted_zone_id
    assert "AliasTarget" in record["Properties"]


def container_of(web: dict[str, Any]) -> dict[str, Any]:
    _, task = only(web, "AWS::ECS::TaskDefinition")
    (container,) = task["Properties"]["ContainerDefinitions"]
    return dict(container)


def test_secrets_are_injected_never_plain(
    env: SynthesizedEnv, variants: dict[str, Templates]
) -> None:
    for templates in all_fargate(env, variants):
        container = container_of(templates.web)
        secrets = {item["Name"]: item["ValueFrom"] for item in container["Secrets"]}
        assert set(secrets) == SECRET_VARIABLES
        _, app_secret_id = secret_ids(templates)
        for variable, field in API_CLIENT_FIELDS.items():
            value = json.dumps(secrets[variable])
            assert f":{field}::" in value
            assert "api-client" in value or "WebClientSecret" in value
        assert secrets[APP_SECRETS_VARIABLE] == ref(app_secret_id)
        plain = {item["Name"]: item["Value"] for item in container["Environment"]}
        assert not SECRET_VARIABLES & set(plain)
        rendered = json.dumps(plain).lower()
        for marker in ("secret", "resolve:secretsmanager", "password", "arn:"):
            assert marker not in rendered
        assert set(plain) >= {"SESSION_TABLE", "HEALTH_PATH", "PORT"}


def test_canary_checks_the_deep_health_path_once_a_real_image_runs(
    variants: dict[str, Templates],
) -> None:
    for name in ("devimg", "devarimg"):
        assert_canary(variants[name])


# "You can specify that Aurora Serverless v2 DB instances scale down to zero ACUs and
# automatically pause, if they don't have any connections initiated by user activity within a
# specified time period." A deep check every interval is such a connection, so where the database
# auto-pauses the canary checks the web tier only.
# (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html)
def test_the_canary_never_keeps_an_auto_pausing_database_awake(
    env: SynthesizedEnv, variants: dict[str, Templates]
) -> None:
    for templates in (shipped(env), variants["devimg"], variants["devarimg"]):
        _, canary = only(templates.web, "AWS::Synthetics::Canary")
        url = json.dumps(canary["Properties"]["RunConfig"]["EnvironmentVariables"])
        if templates.config.database.min_capacity == 0:
            assert "/deep" not in url, templates.config.name
    # dev runs a real image in these variants and still lets its database pause
    assert variants["devimg"].config.web.image_tag is not None
    assert variants["devimg"].config.database.min_capacity == 0


def test_placeholder_image_until_a_tag_is_configured(
    env: SynthesizedEnv, variants: dict[str, Templates]
) -> None:
    container = container_of(env.web_json)
    assert container["Image"] == PLACEHOLDER_IMAGE
    assert "return 200" in " ".join(container["Command"])
    assert str(env.config.web.container_port) in " ".join(container["Command"])
    tagged = container_of(variants["devimg"].web)
    assert "Command" not in tagged
    image = json.dumps(tagged["Image"])
    repository = repository_name(APP_CONFIG, variants["devimg"].config, "web")
    assert image.endswith(f'/{repository}:{IMAGE_TAG}"]]}}')


def test_task_role_reads_two_secrets_and_session_items_only(
    env: SynthesizedEnv, variants: dict[str, Templates]
) -> None:
    for templates in all_fargate(env, variants):
        _, task = only(templates.web, "AWS::ECS::TaskDefinition")
        role_id = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        assert_runtime_role(templates, role_id)


def assert_runtime_role(templates: Templates, role_id: str) -> None:
    """Exactly: read both secrets, and Get/Put/Update/Delete items of the session table."""
    role = templates.web["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    client_secret_id, app_secret_id = secret_ids(templates)
    table_id, _ = only(templates.data, "AWS::DynamoDB::GlobalTable")
    granted: dict[str, set[str]] = {}
    for statement in policy_statements_of_role(templates.web, role_id):
        assert statement["Effect"] == "Allow"
        resources_ = statement["Resource"]
        for resource in resources_ if isinstance(resources_, list) else [resources_]:
            key = json.dumps(resource)
            granted.setdefault(key, set()).update(actions_of(statement))
    secret_read = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    if templates.config.web.runtime is WebRuntime.APP_RUNNER:
        # App Runner's X-Ray tracing writes with the instance role; nothing else on "*".
        assert granted.pop('"*"') == set(XRAY_WRITE_ACTIONS)
    table_arn = None
    for key, actions in granted.items():
        if actions <= secret_read:
            continue
        assert actions == SESSION_ACTIONS, key
        table_arn = imported(json.loads(key), templates.data)
    assert table_arn == get_att(table_id, "Arn")
    secrets = {key for key, actions in granted.items() if actions == secret_read}
    assert len(secrets) == 2
    assert json.dumps(ref(app_secret_id)) in secrets
    (client,) = secrets - {json.dumps(ref(app_secret_id))}
    assert imported(json.loads(client), templates.api) == ref(client_secret_id)


# --- WAF, canary, alerts, outputs --------------------------------------------------------------


def protected_resource(templates: Templates) -> Any:
    if templates.config.web.runtime is WebRuntime.FARGATE:
        alb_id, _ = only(templates.web, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        return ref(alb_id)
    service_id, _ = only(templates.web, "AWS::AppRunner::Service")
    return get_att(service_id, "ServiceArn")


def assert_waf(templates: Templates) -> None:
    associations = resources(templates.web, "AWS::WAFv2::WebACLAssociation")
    if not templates.config.web.waf:
        assert associations == {}
        assert resources(templates.web, "AWS::WAFv2::WebACL") == {}
        return
    ((_, association),) = associations.items()
    acl_id, acl = only(templates.web, "AWS::WAFv2::WebACL")
    assert association["Properties"]["WebACLArn"] == get_att(acl_id, "Arn")
    assert association["Properties"]["ResourceArn"] == protected_resource(templates)
    groups = {
        rule["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for rule in acl["Properties"]["Rules"]
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert groups == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    assert any("RateBasedStatement" in rule["Statement"] for rule in acl["Properties"]["Rules"])
    _, logging = only(templates.web, "AWS::WAFv2::LoggingConfiguration")
    assert logging["Properties"]["ResourceArn"] == get_att(acl_id, "Arn")


def assert_canary(templates: Templates) -> None:
    config = templates.config
    _, canary = only(templates.web, "AWS::Synthetics::Canary")
    minutes = config.web.canary_interval_minutes
    unit = "minute" if minutes == 1 else "minutes"
    expression = canary["Properties"]["Schedule"]["Expression"]
    assert expression in {f"rate({minutes} {unit})", "rate(1 hour)" if minutes == 60 else ""}
    variables = json.dumps(canary["Properties"]["RunConfig"].get("EnvironmentVariables", {}))
    # The placeholder's health path; with a real image, the reference app's deep check, unless
    # the database auto-pauses (the check would keep it awake).
    deep = config.web.image_tag is not None and config.database.min_capacity > 0
    expected = f"{config.web.health_path}/deep" if deep else config.web.health_path
    assert f'{expected}"' in variables
    topic_id, _ = only(templates.web, "AWS::SNS::Topic")
    alarms = [
        alarm["Properties"]
        for alarm in resources(templates.web, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"]["MetricName"] == "SuccessPercent"
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["Threshold"] == 100
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [ref(topic_id)]
    _, subscription = only(templates.web, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == config.alert_email


def test_waf_canary_alerts_and_outputs_on_fargate(env: SynthesizedEnv) -> None:
    templates = shipped(env)
    assert_waf(templates)
    assert_canary(templates)
    assert set(env.web_json["Outputs"]) >= {"PublicUrl", "ServiceId"}


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
    architecture in each environment; App Runner runs linux/amd64."""
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
    assert set(secrets) == SECRET_VARIABLES
    plain = {item["Name"]: item["Value"] for item in image_config["RuntimeEnvironmentVariables"]}
    assert not SECRET_VARIABLES & set(plain)
    assert "secret" not in json.dumps(plain).lower()
    if templates.config.web.image_tag:
        assert repository["ImageRepositoryType"] == "ECR"
        repository_path = repository_name(APP_CONFIG, templates.config, "web")
        assert json.dumps(repository["ImageIdentifier"]).endswith(
            f'/{repository_path}:{IMAGE_TAG}"]]}}'
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
    assert subnet_tiers(connector["Properties"]["Subnets"], templates.network) == {"app"}
    assert props["HealthCheckConfiguration"]["Protocol"] == "HTTP"
    assert props["HealthCheckConfiguration"]["Path"] == templates.config.web.health_path
    role_id = props["InstanceConfiguration"]["InstanceRoleArn"]["Fn::GetAtt"][0]
    assert_runtime_role(templates, role_id)
    assert_waf(templates)
    assert_canary(templates)
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
