"""The web tier per shipped environment (Fargate) and with an image tag: relations, secrets,
permissions, WAF, canary. App Runner and Spot variants: test_web_variants.py."""

from __future__ import annotations

import json
from typing import Any

from cdk_constructs.web_runtime.fargate import CONTAINER_NAME
from cdk_constructs.web_runtime.fargate_release import release_test_port
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE
from stacks.config import APP_CONFIG, repository_name
from stacks.web_stack import API_CLIENT_FIELDS, APP_SECRETS_VARIABLE
from tests.synth import SynthesizedEnv
from tests.template_queries import imported, only, ref, resources, security_group_rules
from tests.web_variants import (
    IMAGE_TAG,
    SECRET_VARIABLES,
    Templates,
    assert_canary,
    assert_runtime_role,
    assert_waf,
    secret_ids,
    shipped,
    subnet_tiers,
)
from tests.web_variants import variants as variants  # fixture


def group_of(value: dict[str, Any]) -> str:
    logical_id, attribute = value["Fn::GetAtt"]
    assert attribute == "GroupId"
    return str(logical_id)


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
    https = config.domain_name is not None
    # The production ports, and the test listener's, which ECS shifts release traffic on.
    ports = {80, 443} if https else {80}
    ports.add(release_test_port(https=https))
    assert {(rule["CidrIp"], rule["FromPort"]) for rule in ingress} == {
        (cidr, port) for cidr in config.allowed_ingress_cidrs for port in ports
    }
    bucket_name = attributes["access_logs.s3.bucket"]
    bucket = web["Resources"][bucket_name["Ref"]]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    # SSE-S3 is the only encryption ALB log delivery takes (EXCEPTIONS.md). Versioned, so a
    # deleted log stays recoverable as long again; no version outlives its 90 days for long.
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 90
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
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
    # Two groups (tests/test_web_release.py): the service's, and the alternate for releases.
    target_groups = resources(web, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert len(target_groups) == 2
    for target_group in target_groups:
        assert target_group["Properties"]["HealthCheckPath"] == config.health_path


def test_https_with_a_domain_else_plain_http(env: SynthesizedEnv) -> None:
    web, config = env.web_json, env.config.web
    listeners = {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in resources(web, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    test_port = release_test_port(https=config.domain_name is not None)
    if config.domain_name is None:
        assert set(listeners) == {80, test_port}
        for port in (80, test_port):
            assert listeners[port]["Protocol"] == "HTTP"
            assert listeners[port]["DefaultActions"][0]["Type"] == "forward"
        assert resources(web, "AWS::CertificateManager::Certificate") == {}
        return
    assert set(listeners) == {80, 443, test_port}
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    for port in (443, test_port):  # the test listener serves what production serves
        assert listeners[port]["Protocol"] == "HTTPS"
        assert listeners[port]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
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
    (container,) = [
        c for c in task["Properties"]["ContainerDefinitions"] if c["Name"] == CONTAINER_NAME
    ]
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


def test_waf_canary_alerts_and_outputs_on_fargate(env: SynthesizedEnv) -> None:
    templates = shipped(env)
    assert_waf(templates)
    assert_canary(templates)
    assert set(env.web_json["Outputs"]) >= {"PublicUrl", "ServiceId", "Release"}
