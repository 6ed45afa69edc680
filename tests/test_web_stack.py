"""The web tier per shipped environment (Fargate or EC2: the same ALB, the same container, its
secrets and grants) and with an image tag: relations, secrets, permissions, WAF, canary. What
ECS alone has (task definitions, the blue/green test listener, the circuit breaker) is checked on
Fargate, what EC2 has instead on EC2 (test_web_runtime_ec2.py checks its variants further). App
Runner and Spot variants: test_web_variants.py."""

from __future__ import annotations

import json
import re
from typing import Any

from cdk_constructs.options import EC2_INSTANCE_TYPES, WebRuntime
from cdk_constructs.web_runtime.ec2 import REFRESH_WARMUP
from cdk_constructs.web_runtime.fargate import CONTAINER_NAME
from cdk_constructs.web_runtime.fargate_release import release_test_port
from cdk_constructs.web_runtime.fargate_task import CPU_TARGET_PERCENT
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE
from stacks.config import APP_CONFIG, EnvironmentConfig, repository_name
from stacks.web_stack import API_CLIENT_FIELDS, APP_SECRETS_VARIABLE
from tests.synth import PLATFORM_ALB_ENV_NAMES, SynthesizedEnv, env_fixture
from tests.template_queries import (
    imported,
    only,
    output_value,
    ref,
    resources,
    security_group_rules,
)
from tests.web_variants import (
    IMAGE_TAG,
    SECRET_VARIABLES,
    Templates,
    assert_canary,
    assert_runtime_role,
    assert_waf,
    boot_script,
    docker_run,
    docker_variables,
    image_at,
    instance_role_id,
    launch_data,
    secret_ids,
    shipped,
    subnet_tiers,
)
from tests.web_variants import variants as variants  # fixture

env = env_fixture(PLATFORM_ALB_ENV_NAMES)
"""Each shipped environment behind the platform's own ALB (Express has its own module)."""

AL2023_ARM64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
"""AWS's public parameter of the latest AL2023 arm64 AMI, which the EC2 runtime boots."""


def group_of(value: dict[str, Any]) -> str:
    logical_id, attribute = value["Fn::GetAtt"]
    assert attribute == "GroupId"
    return str(logical_id)


def with_image_variant(env: SynthesizedEnv, variants: dict[str, Templates]) -> list[Templates]:
    """The shipped environment, and for dev also dev with an image tag (on Fargate, as dev)."""
    return [shipped(env), variants["devimg"]] if env.config.name == "dev" else [shipped(env)]


def on_ec2(config: EnvironmentConfig) -> bool:
    """The EC2 runtime (instances of an Auto Scaling group); else Fargate (an ECS service): the
    two runtimes of the shipped environments of this shape (``test_the_shipped_runtimes``)."""
    return config.web.runtime is WebRuntime.EC2


def test_the_shipped_runtimes(env: SynthesizedEnv) -> None:
    assert env.config.web.runtime in (WebRuntime.FARGATE, WebRuntime.EC2)


# --- the ALB: Fargate and EC2 ------------------------------------------------------------------


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
    # The production ports, and on Fargate the test listener's, which ECS shifts release
    # traffic on (EC2 replaces instances behind the production listener: no test listener).
    ports = {80, 443} if https else {80}
    if not on_ec2(env.config):
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


def web_placement(templates: Templates) -> tuple[list[Any], Any]:
    """(subnets, security group) of what runs the web container: the ECS service's tasks (no
    public IP), or the EC2 runtime's group's instances (no public IP either)."""
    web = templates.web
    if on_ec2(templates.config):
        _, group = only(web, "AWS::AutoScaling::AutoScalingGroup")
        (interface,) = launch_data(web)["NetworkInterfaces"]
        assert interface["AssociatePublicIpAddress"] is False
        (group_id,) = interface["Groups"]
        return group["Properties"]["VPCZoneIdentifier"], group_id
    _, service = only(web, "AWS::ECS::Service")
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    (group_id,) = network["SecurityGroups"]
    return network["Subnets"], group_id


def test_tasks_or_instances_admit_only_the_alb_and_send_only_https(env: SynthesizedEnv) -> None:
    templates = shipped(env)
    web, config = templates.web, env.config.web
    subnets, service_group = web_placement(templates)
    assert subnet_tiers(subnets, templates.network) == {"app"}
    # One app subnet per AZ: ECS or Auto Scaling spreads them over every zone (prod runs 2+).
    assert len(subnets) == len(env.config.availability_zones) >= 2
    if env.config.retain_data:
        assert config.min_instances >= 2
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
    # No port 22 anywhere in the web tier (operators reach instances through Session Manager).
    for group_id in resources(web, "AWS::EC2::SecurityGroup"):
        for rule in security_group_rules(web, group_id, "ingress"):
            assert rule["IpProtocol"] == "tcp"
            assert not rule["FromPort"] <= 22 <= rule["ToPort"], rule
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
    if on_ec2(env.config):
        assert_instances_run_graviton_resilient_and_scale_between_min_and_max(env)
        return
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


def assert_instances_run_graviton_resilient_and_scale_between_min_and_max(
    env: SynthesizedEnv,
) -> None:
    """EC2: the Graviton type the container's size picks, booting AL2023 for arm64 (IMDSv2
    only, an encrypted root, no key pair); a rolling instance refresh that launches before it
    terminates and fails on the release alarms; CPU target tracking between min and max."""
    web, config = env.web_json, env.config.web
    assert config.cpu_architecture == "ARM64"
    data = launch_data(web)
    assert data["InstanceType"] == EC2_INSTANCE_TYPES[(config.cpu, config.memory_mib)]
    assert data["InstanceType"].startswith("t4g.")  # Graviton
    (image,) = [
        web["Parameters"][name] for name in web["Parameters"] if data["ImageId"] == ref(name)
    ]
    assert image == {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Default": AL2023_ARM64,
    }
    assert data["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 2  # the container's hop
    ((root),) = data["BlockDeviceMappings"]
    assert root["Ebs"]["Encrypted"] is True
    assert "KeyName" not in data  # no key pair: Session Manager only
    group_id, group = only(web, "AWS::AutoScaling::AutoScalingGroup")
    props = group["Properties"]
    assert (props["MinSize"], props["MaxSize"]) == (
        str(config.min_instances),
        str(config.max_instances),
    )
    assert "DesiredCapacity" not in props  # scaling owns it; a deploy never resets it
    assert props["HealthCheckType"] == "ELB"
    refresh = group["UpdatePolicy"]["AutoScalingInstanceRefresh"]
    assert "AutoScalingRollingUpdate" not in group["UpdatePolicy"]
    assert refresh["Strategy"] == "Rolling"
    preferences = refresh["Preferences"]
    assert (preferences["MinHealthyPercentage"], preferences["MaxHealthyPercentage"]) == (100, 200)
    assert preferences["InstanceWarmup"] == REFRESH_WARMUP.to_seconds()
    release = json.loads(output_value(web, "Release"))
    assert preferences["AlarmSpecification"]["Alarms"] == release["alarms"]
    assert len(release["alarms"]) == 4  # 5xx rate, p99, unhealthy targets, the canary
    policies = resources(web, "AWS::AutoScaling::ScalingPolicy").values()
    if config.max_instances == config.min_instances:
        assert not policies  # a fixed size: nothing to track
    else:
        ((policy),) = policies
        assert policy["Properties"]["AutoScalingGroupName"] == ref(group_id)
        tracking = policy["Properties"]["TargetTrackingConfiguration"]
        assert tracking["PredefinedMetricSpecification"] == {
            "PredefinedMetricType": "ASGAverageCPUUtilization"
        }
        assert tracking["TargetValue"] == CPU_TARGET_PERCENT
    ((target_id, target_group),) = resources(
        web, "AWS::ElasticLoadBalancingV2::TargetGroup"
    ).items()
    assert props["TargetGroupARNs"] == [ref(target_id)]
    assert target_group["Properties"]["HealthCheckPath"] == config.health_path


def test_https_with_a_domain_else_plain_http(env: SynthesizedEnv) -> None:
    web, config = env.web_json, env.config.web
    listeners = {
        listener["Properties"]["Port"]: listener["Properties"]
        for listener in resources(web, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    # Fargate's blue/green test listener serves what production serves; EC2 has none.
    test_ports = (
        set() if on_ec2(env.config) else {release_test_port(https=config.domain_name is not None)}
    )
    if config.domain_name is None:
        assert set(listeners) == {80, *test_ports}
        for port in (80, *test_ports):
            assert listeners[port]["Protocol"] == "HTTP"
            assert listeners[port]["DefaultActions"][0]["Type"] == "forward"
        assert resources(web, "AWS::CertificateManager::Certificate") == {}
        return
    assert set(listeners) == {80, 443, *test_ports}
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    for port in (443, *test_ports):
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


def assert_boot_script_reads_secrets_by_arn(templates: Templates) -> None:
    """EC2: the boot script reads each secret from Secrets Manager by its ARN (a secret's Ref)
    with the instance role, into its own environment, and passes it to Docker by name only: no
    value in the template, the user data or ``docker run``'s arguments."""
    web = templates.web
    script = boot_script(web)
    assert "aws secretsmanager get-secret-value --region " in script
    assert '--secret-id "$1"' in script
    client_secret_id, app_secret_id = secret_ids(templates)
    read = {
        match["name"]: (json.loads(match["arn"]), match["field"])
        for match in re.finditer(
            r"^(?P<name>\w+)=\$\(retry secret '<(?P<arn>.+?)>'(?: (?P<field>\w+))?\); "
            r"export (?P=name)$",
            script,
            flags=re.MULTILINE,
        )
    }
    assert set(read) == SECRET_VARIABLES
    for variable, field in API_CLIENT_FIELDS.items():
        arn, read_field = read[variable]
        assert read_field == field
        assert imported(arn, templates.api) == ref(client_secret_id)
    assert read[APP_SECRETS_VARIABLE] == (ref(app_secret_id), None)  # the whole secret
    plain, by_name = docker_variables(web)
    assert by_name == SECRET_VARIABLES
    assert not SECRET_VARIABLES & set(plain)
    rendered = json.dumps(plain).lower()
    for marker in ("secret", "resolve:secretsmanager", "password", "arn:"):
        assert marker not in rendered
    assert set(plain) >= {"SESSION_TABLE", "HEALTH_PATH", "PORT"}
    assert "resolve:secretsmanager" not in json.dumps(web)


def test_secrets_are_injected_never_plain(
    env: SynthesizedEnv, variants: dict[str, Templates]
) -> None:
    for templates in with_image_variant(env, variants):
        if on_ec2(templates.config):
            assert_boot_script_reads_secrets_by_arn(templates)
            continue
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
    assert env.config.web.image_tag is None
    if on_ec2(env.config):
        # The public placeholder, pulled without logging in to ECR, with its own command.
        words = docker_run(env.web_json)
        image, command = words[image_at(words)], " ".join(words[image_at(words) + 1 :])
        script = boot_script(env.web_json)
        assert f"retry docker pull {PLACEHOLDER_IMAGE}" in script
        assert "aws ecr" not in script
    else:
        container = container_of(env.web_json)
        image, command = container["Image"], " ".join(container["Command"])
    assert image == PLACEHOLDER_IMAGE
    assert "return 200" in command
    assert str(env.config.web.container_port) in command
    tagged = container_of(variants["devimg"].web)
    assert "Command" not in tagged
    image = json.dumps(tagged["Image"])
    repository = repository_name(APP_CONFIG, variants["devimg"].config, "web")
    assert image.endswith(f'/{repository}:{IMAGE_TAG}"]]}}')


def test_task_role_reads_two_secrets_and_session_items_only(
    env: SynthesizedEnv, variants: dict[str, Templates]
) -> None:
    """The app's role: the task role on Fargate; on EC2 the instance role, which also holds what
    the instance needs and the operators' shell grants, exactly (``assert_runtime_role``)."""
    for templates in with_image_variant(env, variants):
        if on_ec2(templates.config):
            role_id = instance_role_id(templates.web)
        else:
            _, task = only(templates.web, "AWS::ECS::TaskDefinition")
            role_id = task["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        assert_runtime_role(templates, role_id)


def test_waf_canary_alerts_and_outputs(env: SynthesizedEnv) -> None:
    templates = shipped(env)
    assert_waf(templates)
    assert_canary(templates)
    assert set(env.web_json["Outputs"]) >= {"PublicUrl", "ServiceId", "Release"}
