"""The ECS Express Mode runtime (cdk_constructs/web_runtime/express.py): dev's and prod's web tiers
on ``web.runtime = express``, synthesized with the quality gates on; relations, not ids.

AWS rules these tests hold the construct to (cited where the construct applies them):
- Express takes a task definition of one's own with "a container named Main with a single TCP
  port mapping that includes a container port and port name", "FARGATE compatibility", and then
  no primaryContainer, executionRoleArn, taskRoleArn, cpu, memory or cpuArchitecture (ECS API,
  CreateExpressGatewayService).
- Its load balancer follows its subnets: internal in private ones ("If you provide private
  subnets ..., Express Mode will provision an internal ALB", express-service-work.html); its
  ALB's ARN is the attribute ``ECSManagedResourceArns.IngressPath.LoadBalancerArn``.
- CloudFront reaches an internal ALB through a VPC origin, which needs the ALB active, and the
  ALB's group must admit CloudFront's ``CloudFront-VPCOrigins-Service-SG``, which exists only
  once the VPC origin does (private-content-vpc-origins.html).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnResource, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs

from cdk_constructs.options import (
    EXPRESS_CPU_MEMORY,
    CpuArchitecture,
    WebReleaseStrategy,
    WebRuntime,
)
from cdk_constructs.web_runtime.express import (
    INFRASTRUCTURE_POLICY,
    MAIN_CONTAINER,
    REVISION_DIGEST_CHARS,
    ExpressWebService,
)
from cdk_constructs.web_runtime.express_front import ADMIT_STEP, READY_STEP
from cdk_constructs.web_runtime.image import (
    APP_USER,
    PLACEHOLDER_IMAGE,
    PLACEHOLDER_USER,
    PublicImage,
)
from cdk_constructs.web_runtime.interface import (
    WebAclPlacement,
    WebReleasePlan,
    WebRuntimeProps,
    runtime_traits,
)
from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG, EnvironmentConfig, check_deployable, runtime_spec
from stacks.config.regions import VPC_ORIGIN_REGIONS
from stacks.config.sections import AlarmThresholds, WebReleaseConfig
from stacks.web_stack import web_service_name
from tests.config_helpers import assert_one_line, error_of, real_with, with_web
from tests.synth import Synthesized, Tier, cfn_lint, scratch_app, synth_variant_tiers
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
from tests.web_variants import (
    IMAGE_TAG,
    SECRET_VARIABLES,
    Templates,
    actions_of,
    assert_runtime_role,
    on_runtime,
    shipped,
    subnet_tiers,
)
from vpc_origin_ingress import handler as ingress_handler

ENV = Environment(account="111111111111", region="us-east-1")
SERVICE = "AWS::ECS::ExpressGatewayService"
LOAD_BALANCER_ARN = "ECSManagedResourceArns.IngressPath.LoadBalancerArn"
SECRET_READ = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
"""CloudFront's managed cache and origin request policies' ids."""
ECR_PULL = {"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}


def _express(env: EnvironmentConfig, suffix: str, **web: Any) -> EnvironmentConfig:
    return on_runtime(env, WebRuntime.EXPRESS, suffix, **web)


DEV = _express(APP_CONFIG.environment("dev"), "-x")
"""dev on Express: the placeholder image, no WAF."""
_PROD = APP_CONFIG.environment("prod")
PROD = _express(
    _PROD,
    "-x",
    image_tag=IMAGE_TAG,
    domain_name=_PROD.web.domain_name,
    hosted_zone_id=_PROD.web.hosted_zone_id,
    hosted_zone_name=_PROD.web.hosted_zone_name,
)
"""prod on Express: an ECR image, WAF, its domain, retained data, the NIST 800-53 pack."""


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


@pytest.fixture
def example(synthesized: Synthesized) -> Templates:
    """The shipped ``express`` environment (WAF and domain on CloudFront), as ``make synth``
    builds it."""
    return shipped(synthesized.envs["express"])


@pytest.fixture(params=["dev", "prod", "example"])
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
        for tier, template in (("web", templates.web), ("ops", templates.ops)):
            path = tmp_path / f"{templates.config.name}-{tier}.template.json"
            path.write_text(json.dumps(template))
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


# --- the CloudFront front ------------------------------------------------------------------------


def test_the_vpc_origin_is_expresss_alb_over_https_after_it_is_active(variant: Templates) -> None:
    service_id, _ = service_of(variant)
    origin_id, origin = only(variant.web, "AWS::CloudFront::VpcOrigin")
    config = origin["Properties"]["VpcOriginEndpointConfig"]
    assert config["Arn"] == get_att(service_id, LOAD_BALANCER_ARN)
    assert (config["HTTPSPort"], config["OriginProtocolPolicy"], config["OriginSSLProtocols"]) == (
        443,
        "https-only",
        ["TLSv1.2"],
    )
    ready_id, ready = only(variant.web, "Custom::ExpressLoadBalancerReady")
    assert ready["Properties"]["Step"] == READY_STEP
    assert ready["Properties"]["LoadBalancerArn"] == get_att(service_id, LOAD_BALANCER_ARN)
    assert ready_id in variant.web["Resources"][origin_id]["DependsOn"]


def test_cloudfront_sends_expresss_host_and_caches_nothing(variant: Templates) -> None:
    """Express's listener rule matches its own host and its certificate names it: the origin's
    domain is that host and the viewer's Host is never forwarded."""
    service_id, _ = service_of(variant)
    origin_id, _ = only(variant.web, "AWS::CloudFront::VpcOrigin")
    _, distribution = only(variant.web, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["VpcOriginConfig"]["VpcOriginId"] == get_att(origin_id, "Id")
    assert json.dumps(get_att(service_id, "Endpoint")) in json.dumps(origin["DomainName"])
    assert "https://" in json.dumps(origin["DomainName"])  # a scheme is stripped, if any
    behavior = config["DefaultCacheBehavior"]
    assert behavior["CachePolicyId"] == CACHING_DISABLED
    assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert set(behavior["AllowedMethods"]) >= {"GET", "POST", "PUT", "DELETE"}
    assert config["HttpVersion"] == "http2and3"
    headers_id = behavior["ResponseHeadersPolicyId"]["Ref"]
    security = variant.web["Resources"][headers_id]["Properties"]["ResponseHeadersPolicyConfig"][
        "SecurityHeadersConfig"
    ]
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 730 * 86400
    assert security["FrameOptions"]["FrameOption"] == "DENY"
    assert config["Logging"]["Prefix"] == "cloudfront/"


def test_the_ingress_step_admits_cloudfront_on_expresss_alb_after_the_origin_and_each_release(
    variant: Templates,
) -> None:
    service_id, _ = service_of(variant)
    task_id, _ = task_of(variant)
    origin_id, _ = only(variant.web, "AWS::CloudFront::VpcOrigin")
    distribution_id, _ = only(variant.web, "AWS::CloudFront::Distribution")
    ingress_id, ingress = only(variant.web, "Custom::ExpressVpcOriginIngress")
    properties = ingress["Properties"]
    assert properties["Step"] == ADMIT_STEP
    assert properties["LoadBalancerArn"] == get_att(service_id, LOAD_BALANCER_ARN)
    (vpc_id, _) = only(variant.network, "AWS::EC2::VPC")
    assert imported(properties["VpcId"], variant.network) == ref(vpc_id)
    separator, (task_arn, digest) = properties["Revision"]["Fn::Join"]
    assert (separator, task_arn) == (":", ref(task_id))
    assert len(digest) == REVISION_DIGEST_CHARS
    assert {origin_id, distribution_id} <= set(variant.web["Resources"][ingress_id]["DependsOn"])
    # Both custom resources are answered by the one function of the front.
    (function_id, _) = properties["ServiceToken"]["Fn::GetAtt"]
    _, ready = only(variant.web, "Custom::ExpressLoadBalancerReady")
    assert ready["Properties"]["ServiceToken"] == get_att(function_id, "Arn")


def test_the_ingress_function_changes_rules_only_on_this_vpcs_groups(variant: Templates) -> None:
    (function_id, _) = only(variant.web, "Custom::ExpressVpcOriginIngress")[1]["Properties"][
        "ServiceToken"
    ]["Fn::GetAtt"]
    function = variant.web["Resources"][function_id]["Properties"]
    assert function["Handler"] == "handler.on_event"
    assert function["Timeout"] == 900
    role_id = function["Role"]["Fn::GetAtt"][0]
    statements = policy_statements_of_role(variant.web, role_id)
    by_actions = {tuple(sorted(actions_of(s))): s for s in statements}
    # On "*" only what has no resource-level permission: the two reads and X-Ray's writes.
    reads = (
        "ec2:DescribeSecurityGroups",
        "elasticloadbalancing:DescribeLoadBalancers",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    )
    rules = ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress")
    assert set(by_actions) == {reads, rules}
    assert by_actions[reads]["Resource"] == "*"
    change = by_actions[rules]
    config = variant.config
    arn_prefix = f"arn:aws:ec2:{config.region}:{config.account}:"
    assert change["Resource"] == f"{arn_prefix}security-group/*"
    (vpc_arn,) = change["Condition"]["ArnEquals"].values()
    (vpc_id, _) = only(variant.network, "AWS::EC2::VPC")
    separator, (prefix, vpc) = vpc_arn["Fn::Join"]
    assert (separator, prefix) == ("", f"{arn_prefix}vpc/")
    assert imported(vpc, variant.network) == ref(vpc_id)


def test_the_steps_are_the_functions(dev: Templates) -> None:
    assert {READY_STEP, ADMIT_STEP} == {step.value for step in ingress_handler.Step}


def test_the_web_acl_is_cloudfronts_and_nothing_else_has_one(
    dev: Templates, prod: Templates
) -> None:
    """The ACL is of CLOUDFRONT scope, on the distribution (us-east-1 here, so in the web
    stack); no regional ACL is associated with Express's ALB."""
    assert not resources(dev.web, "AWS::WAFv2::WebACL")
    assert (
        "WebACLId"
        not in only(dev.web, "AWS::CloudFront::Distribution")[1]["Properties"]["DistributionConfig"]
    )
    acl_id, acl = only(prod.web, "AWS::WAFv2::WebACL")
    assert acl["Properties"]["Scope"] == "CLOUDFRONT"
    _, distribution = only(prod.web, "AWS::CloudFront::Distribution")
    assert distribution["Properties"]["DistributionConfig"]["WebACLId"] == get_att(acl_id, "Arn")
    assert not resources(prod.web, "AWS::WAFv2::WebACLAssociation")


def test_a_domain_gets_a_us_east_1_certificate_and_alias_records(prod: Templates) -> None:
    domain = prod.config.web.domain_name
    certificate_id, certificate = only(prod.web, "AWS::CertificateManager::Certificate")
    assert certificate["Properties"]["DomainName"] == domain
    _, distribution = only(prod.web, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["Aliases"] == [domain]
    assert config["ViewerCertificate"]["AcmCertificateArn"] == ref(certificate_id)
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    records = resources(prod.web, "AWS::Route53::RecordSet").values()
    assert sorted(r["Properties"]["Type"] for r in records) == ["A", "AAAA"]
    assert output_value(prod.web, "PublicUrl") == f"https://{domain}"


def test_users_and_the_canary_use_cloudfronts_url(dev: Templates) -> None:
    distribution_id, _ = only(dev.web, "AWS::CloudFront::Distribution")
    url = output_value(dev.web, "PublicUrl")
    assert url == {"Fn::Join": ["", ["https://", get_att(distribution_id, "DomainName")]]}
    _, canary = only(dev.web, "AWS::Synthetics::Canary")
    variables = canary["Properties"]["RunConfig"]["EnvironmentVariables"]
    assert json.dumps(get_att(distribution_id, "DomainName")) in json.dumps(variables)
    service_id, _ = service_of(dev)
    assert output_value(dev.web, "ServiceId") == get_att(service_id, "ServiceArn")
    assert output_value(dev.web, "Rollout") == "cloudformation"
    release = WebRelease.from_json(output_value(dev.web, RELEASE_OUTPUT))
    assert (release.runtime, release.strategy, release.alarms) == ("express", "rolling", ())


def test_alarms_read_the_express_alb_its_tasks_and_cloudfront(prod: Templates) -> None:
    """The ALB's dimension is the ready step's answer (``app/<name>/<id>`` of the ARN it
    waited for: tests/test_vpc_origin_ingress.py)."""
    ready_id, ready = only(prod.web, "Custom::ExpressLoadBalancerReady")
    service_id, _ = service_of(prod)
    assert ready["Properties"]["LoadBalancerArn"] == get_att(service_id, LOAD_BALANCER_ARN)
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
        assert imported(dimension["Value"], prod.web) == get_att(ready_id, "MetricDimension")
    tasks = alarms["running tasks < desired"]
    for metric in (m for m in tasks["Metrics"] if "MetricStat" in m):
        dimensions = metric["MetricStat"]["Metric"]["Dimensions"]
        assert {d["Name"]: d["Value"] for d in dimensions} == {
            "ClusterName": name,
            "ServiceName": name,
        }
    # CloudFront's own 502/504 (origin unreachable) never reach the ALB's metrics.
    distribution_id, _ = only(prod.web, "AWS::CloudFront::Distribution")
    edge = alarms["CloudFront 5XX"]
    stats = [m["MetricStat"]["Metric"] for m in edge["Metrics"] if "MetricStat" in m]
    assert {stat["Namespace"] for stat in stats} == {"AWS/CloudFront"}
    for stat in stats:
        (distribution,) = [d["Value"] for d in stat["Dimensions"] if d["Name"] == "DistributionId"]
        assert imported(distribution, prod.web) == ref(distribution_id)


# --- config ---------------------------------------------------------------------------------------


def test_the_spec_arm64_https_domain_behind_cloudfront_no_spot_or_cidrs_rolling_only() -> None:
    spec = runtime_spec(WebRuntime.EXPRESS)
    assert (spec.architecture, spec.spot_architecture) == (CpuArchitecture.ARM64, None)
    assert (spec.https_without_domain, spec.custom_domain, spec.restricts_ingress) == (
        True,
        True,
        False,
    )
    assert spec.behind_cloudfront
    assert spec.regions == VPC_ORIGIN_REGIONS
    assert set(spec.preflight_checks) == {"edge-region-bootstrap", "vpc-origin-zones"}
    assert spec.release_strategies == ExpressWebService.release_strategies
    assert spec.release_strategies == frozenset({WebReleaseStrategy.ROLLING})
    assert spec.cpu_memory is EXPRESS_CPU_MEMORY
    assert DEV.web.cpu_architecture is CpuArchitecture.ARM64
    traits = runtime_traits(ExpressWebService)
    assert (traits.web_acl, traits.edge_region) == (WebAclPlacement.RUNTIME, "us-east-1")


@pytest.mark.parametrize(
    ("field", "changes", "allowed"),
    [
        ("web.spot", {"spot": True}, "spot=False with express"),
        (
            "web.allowed_ingress_cidrs",
            {"allowed_ingress_cidrs": ("203.0.113.0/24",)},
            "allowed_ingress_cidrs=('0.0.0.0/0',) with express",
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


def test_config_refuses_express_where_cloudfront_has_no_vpc_origins() -> None:
    """ap-southeast-6 is not on CloudFront's list of VPC origin regions."""
    dev = APP_CONFIG.environment("dev")
    express = replace(dev.web, runtime=WebRuntime.EXPRESS, spot=False)
    error = error_of(
        lambda: replace(
            dev,
            region="ap-southeast-6",
            availability_zones=("ap-southeast-6a", "ap-southeast-6b"),
            web=express,
        )
    )
    assert_one_line(error, "dev", "region", "us-east-1")
    assert "ap-southeast-6" in str(error).split("; allowed: ", 1)[0]


def test_express_deploys_with_a_domain() -> None:
    config = real_with("dev", web={"runtime": WebRuntime.EXPRESS, "spot": False})
    assert check_deployable(config, "dev").web.runtime is WebRuntime.EXPRESS
    example = APP_CONFIG.environment("express")
    assert (example.web.runtime, example.web.waf, example.web.domain_name) == (
        WebRuntime.EXPRESS,
        True,
        "express.example.com",
    )


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


def _revision_digest(**changes: Any) -> str:
    stack = Stack(scratch_app(), "Revision", env=ENV)
    service = ExpressWebService(stack, "Web", props=replace(_props(stack), **changes))
    resource = service.front.ingress.node.default_child
    assert isinstance(resource, CfnResource)
    revision = stack.resolve(resource._cfn_properties)
    digest: str = revision["Revision"]["Fn::Join"][1][1]
    return digest


def test_the_revision_changes_with_the_service_and_only_then() -> None:
    """Any change CloudFormation makes to the Express service (here its scaling) is an Express
    update, after which the ingress step must run again."""
    assert _revision_digest() == _revision_digest()
    assert _revision_digest(max_instances=2) != _revision_digest()
