"""The web tier's templates and the checks every runtime shares, for the web test modules.

The ``variants`` fixture hands out the environment variants the web tests need (synthesized once
per session, in the background: tests/variant_sets.py): every environment on App Runner, dev
with an image tag on Fargate and on App Runner, and staging on Fargate Spot; each with cdk-nag,
its web and ops stacks through cfn-lint.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest

from cdk_constructs.options import WebRuntime
from cdk_constructs.web_runtime.app_runner import XRAY_WRITE_ACTIONS
from cdk_constructs.web_runtime.image import PLACEHOLDER_IMAGE
from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG, EnvironmentConfig, repository_name
from stacks.config.sections import WebReleaseConfig
from stacks.web_stack import API_CLIENT_FIELDS, APP_SECRETS_VARIABLE
from tests.synth import PLATFORM_ALB_ENV_NAMES, SynthesizedEnv, Tier
from tests.template_queries import (
    get_att,
    imported,
    only,
    output_value,
    policy_statements_of_role,
    ref,
    references,
    resources,
    subnets_by_group,
)

if TYPE_CHECKING:  # tests.variant_sets imports this module
    from tests.variant_sets import SynthesizedSet

SECRET_VARIABLES = {*API_CLIENT_FIELDS, APP_SECRETS_VARIABLE}
SESSION_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
}
IMAGE_TAG = "3f2c1e0"
SESSION_LOG_ACTIONS = {"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"}
PULL_ACTIONS = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
}


@dataclass(frozen=True)
class Templates:
    """The templates of one synthesized environment."""

    config: EnvironmentConfig
    network: dict[str, Any]
    data: dict[str, Any]
    api: dict[str, Any]
    web: dict[str, Any]
    ops: dict[str, Any]


def shipped(env: SynthesizedEnv) -> Templates:
    return Templates(
        env.config, env.network_json, env.data_json, env.api_json, env.web_json, env.ops_json
    )


def _variant(env: EnvironmentConfig, suffix: str, **web: Any) -> EnvironmentConfig:
    return replace(
        env,
        name=f"{env.name}{suffix}",
        branch=f"{env.branch}-{suffix}",
        web=replace(env.web, **web),
    )


def on_runtime(
    env: EnvironmentConfig, runtime: WebRuntime, suffix: str, **web: Any
) -> EnvironmentConfig:
    """``env`` on ``runtime`` with what every runtime accepts: no Spot, no domain, a rolling
    release."""
    no_domain = {"domain_name": None, "hosted_zone_id": None, "hosted_zone_name": None}
    return _variant(
        env, suffix, runtime=runtime, release=WebReleaseConfig(), spot=False, **{**no_domain, **web}
    )


def variant_configs() -> list[EnvironmentConfig]:
    """Every env of today's shape on App Runner, dev on Fargate and on App Runner with an image
    tag, and staging on Fargate Spot."""
    dev, staging = APP_CONFIG.environment("dev"), APP_CONFIG.environment("staging")
    return [
        *(
            on_runtime(env, WebRuntime.APP_RUNNER, "ar")
            for env in APP_CONFIG.environments
            if env.name in PLATFORM_ALB_ENV_NAMES
        ),
        _variant(dev, "img", image_tag=IMAGE_TAG),
        on_runtime(dev, WebRuntime.APP_RUNNER, "arimg", image_tag=IMAGE_TAG),
        _variant(staging, "spot", spot=True),
    ]


@pytest.fixture(scope="module")
def variants(variant_sets: Callable[[str], SynthesizedSet]) -> dict[str, Templates]:
    """The variants by name, synthesized once per session with cdk-nag (no unacknowledged
    finding); their web and ops stacks pass cfn-lint too (tests/variant_sets.py)."""
    synthesized = variant_sets("web")
    assert synthesized.lint_report == ""
    return {
        config.name: Templates(config, *(synthesized.templates[config.name][tier] for tier in Tier))
        for config in variant_configs()
    }


# --- relations every runtime keeps ---------------------------------------------------------------


def actions_of(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return set(action if isinstance(action, list) else [action])


def subnet_tiers(subnet_ids: list[Any], network: dict[str, Any]) -> set[str]:
    tier_of = {
        subnet: tier
        for tier, by_zone in subnets_by_group(network).items()
        for subnet in by_zone.values()
    }
    return {tier_of[imported(subnet, network)["Ref"]] for subnet in subnet_ids}


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


def launch_data(web: dict[str, Any]) -> dict[str, Any]:
    """The EC2 runtime's launch template data (the web stack's only launch template)."""
    _, template = only(web, "AWS::EC2::LaunchTemplate")
    data: dict[str, Any] = template["Properties"]["LaunchTemplateData"]
    return data


def boot_script(web: dict[str, Any]) -> str:
    """The EC2 runtime's boot script (its launch template's user data), each intrinsic function
    shown as ``<json>``."""
    encoded = launch_data(web)["UserData"]["Fn::Base64"]
    parts = encoded["Fn::Join"][1] if isinstance(encoded, dict) else [encoded]
    return "".join(part if isinstance(part, str) else f"<{json.dumps(part)}>" for part in parts)


def docker_run(web: dict[str, Any]) -> list[str]:
    """The EC2 boot script's ``docker run`` command (the web container), as the shell
    splits it."""
    (run,) = [line for line in boot_script(web).splitlines() if line.startswith("docker run ")]
    return shlex.split(run)


def image_at(words: list[str]) -> int:
    """Where the image is in ``docker run``'s words: options before it, the command after."""
    (index,) = [i for i, word in enumerate(words) if word == PLACEHOLDER_IMAGE or "/web:" in word]
    return index


def docker_variables(web: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    """The container's plain variables (``-e NAME=value``) and those passed by name only
    (``-e NAME``: Docker copies the value from the boot script's environment)."""
    words = docker_run(web)
    passed = [words[i + 1] for i, word in enumerate(words[: image_at(words)]) if word == "-e"]
    plain = dict(word.split("=", 1) for word in passed if "=" in word)
    return plain, {word for word in passed if "=" not in word}


def container_log_group_id(web: dict[str, Any]) -> str:
    """The log group Docker's awslogs driver writes the web container's logs to (EC2)."""
    (found,) = re.findall(r"awslogs-group='<\{\"Ref\": \"(\w+)\"\}>'", boot_script(web))
    assert web["Resources"][found]["Type"] == "AWS::Logs::LogGroup"
    return str(found)


def instance_role_id(web: dict[str, Any]) -> str:
    """The role of the EC2 runtime's instances: its launch template's instance profile's."""
    profile = launch_data(web)["IamInstanceProfile"]["Arn"]["Fn::GetAtt"][0]
    (role,) = web["Resources"][profile]["Properties"]["Roles"]
    return str(role["Ref"])


def _resolved(resource: Any, templates: Templates) -> Any:
    """A resource, or the producer's value behind a reference to another stack's."""
    for producer in (templates.network, templates.data, templates.api):
        try:
            return imported(resource, producer)
        except (AssertionError, KeyError):
            continue
    return resource


def instance_grants(templates: Templates) -> list[tuple[set[str], Any]]:
    """What the EC2 runtime's instance role holds for the instance itself, besides the app's
    grants: completing its group's launch hook, writing the container's log group, pulling a
    private image; and with operator access, Session Manager's shell sessions: decrypting them
    with the environment key and streaming them to the session log group
    (cdk_constructs/operator_access.py ``grant_session_logging``)."""
    config = templates.config
    group = f"{APP_CONFIG.app_name}-{config.name}-web"
    grants: list[tuple[set[str], Any]] = [
        (
            {"autoscaling:CompleteLifecycleAction"},
            f"arn:aws:autoscaling:{config.region}:{config.account}:autoScalingGroup:*"
            f":autoScalingGroupName/{group}",
        ),
        (
            {"logs:CreateLogStream", "logs:PutLogEvents"},
            get_att(container_log_group_id(templates.web), "Arn"),
        ),
    ]
    if config.web.image_tag:
        grants.append(({"ecr:GetAuthorizationToken"}, "*"))
        grants.append((PULL_ACTIONS, f"repository/{repository_name(APP_CONFIG, config, 'web')}"))
    if config.operator_access.enabled:
        key_id, _ = only(templates.network, "AWS::KMS::Key")
        session_log_group = f"/{APP_CONFIG.app_name}/{config.name}/operator-sessions"
        (session_group_id,) = [
            logical_id
            for logical_id, group_ in resources(templates.data, "AWS::Logs::LogGroup").items()
            if group_["Properties"].get("LogGroupName") == session_log_group
        ]
        grants += [
            ({"kms:Decrypt"}, get_att(key_id, "Arn")),
            ({"logs:DescribeLogGroups"}, "*"),  # no resource-level permission
            (SESSION_LOG_ACTIONS, get_att(session_group_id, "Arn")),
        ]
    return grants


def _assert_instance_grants(templates: Templates, statements: list[dict[str, Any]]) -> None:
    """Exactly ``instance_grants``, without conditions, action by action (CDK merges the
    statements of one resource: the image pull's token and Session Manager's
    ``logs:DescribeLogGroups`` both on ``*``)."""
    found = set()
    for statement in statements:
        assert "Condition" not in statement, statement
        resource = _resolved(statement["Resource"], templates)
        if actions_of(statement) == PULL_ACTIONS:
            # The repository's ARN: named by its end.
            (resource,) = re.findall(r':(repository/[^"]+)"', json.dumps(resource))
        found |= {(action, json.dumps(resource)) for action in actions_of(statement)}
    expected = {
        (action, json.dumps(resource))
        for actions, resource in instance_grants(templates)
        for action in actions
    }
    assert found == expected, found ^ expected


def assert_runtime_role(templates: Templates, role_id: str) -> None:
    """Exactly: read both secrets, and Get/Put/Update/Delete items of the session table (and on
    EC2, whose instance role is the app's, what the instance itself needs, exactly:
    ``instance_grants``, and AmazonSSMManagedInstanceCore for its SSM Agent)."""
    role = templates.web["Resources"][role_id]["Properties"]
    instance_role = templates.config.web.runtime is WebRuntime.EC2
    if instance_role:
        (managed,) = role["ManagedPolicyArns"]
        assert json.dumps(managed).endswith(':iam::aws:policy/AmazonSSMManagedInstanceCore"]]}')
    else:
        assert "ManagedPolicyArns" not in role
    client_secret_id, app_secret_id = secret_ids(templates)
    table_id, _ = only(templates.data, "AWS::DynamoDB::GlobalTable")
    granted: dict[str, set[str]] = {}
    key_id, _ = only(templates.network, "AWS::KMS::Key")
    secret_read = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
    instance_statements = []
    for statement in policy_statements_of_role(templates.web, role_id):
        assert statement["Effect"] == "Allow"
        actions = actions_of(statement)
        if instance_role and not (
            actions <= secret_read
            or actions == SESSION_ACTIONS
            or (actions == {"kms:Decrypt"} and "Condition" in statement)
        ):
            instance_statements.append(statement)
            continue
        if actions == {"kms:Decrypt"}:
            # The environment key, only as Secrets Manager decrypts the two secrets with it.
            assert imported(statement["Resource"], templates.network) == get_att(key_id, "Arn")
            assert statement["Condition"] == {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{templates.config.region}.amazonaws.com"
                }
            }
            continue
        resources_ = statement["Resource"]
        for resource in resources_ if isinstance(resources_, list) else [resources_]:
            key = json.dumps(resource)
            granted.setdefault(key, set()).update(actions)
    if instance_role:
        _assert_instance_grants(templates, instance_statements)
    if '"*"' in granted:
        # App Runner's X-Ray tracing writes with the instance role; nothing else on "*".
        assert templates.config.web.runtime is WebRuntime.APP_RUNNER
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
    # Encrypted with the environment key (the network stack's only key).
    client_secret = templates.api["Resources"][client_secret_id]["Properties"]
    app_secret = templates.web["Resources"][app_secret_id]["Properties"]
    for secret, template in ((client_secret, templates.api), (app_secret, templates.web)):
        assert imported(secret["KmsKeyId"], templates.network) == get_att(key_id, "Arn"), template


def protected_resource(templates: Templates) -> Any:
    """What the web ACL must protect: the ALB on Fargate and EC2, the service on App Runner."""
    if templates.config.web.runtime in (WebRuntime.FARGATE, WebRuntime.EC2):
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
    """The canary (web stack) checks the right path on schedule; its alarm (ops stack, next to
    the alerts topic) notifies the topic when 2 of 3 runs fail."""
    config = templates.config
    canary_id, canary = only(templates.web, "AWS::Synthetics::Canary")
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
    # The web stack's alarms are the release's rollback alarms only (its Release output names
    # them), notifying no one: the alerts topic and its alarms live in the ops stack.
    release = WebRelease.from_json(output_value(templates.web, RELEASE_OUTPUT))
    web_alarms = resources(templates.web, "AWS::CloudWatch::Alarm").values()
    assert sorted(alarm["Properties"]["AlarmName"] for alarm in web_alarms) == sorted(
        release.alarms
    )
    assert not any("AlarmActions" in alarm["Properties"] for alarm in web_alarms)
    assert resources(templates.web, "AWS::SNS::Topic") == {}
    topic_id, _ = only(templates.ops, "AWS::SNS::Topic")
    alarms = [
        alarm["Properties"]
        for alarm in resources(templates.ops, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "SuccessPercent"
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    (dimension,) = alarm["Dimensions"]
    assert imported(dimension["Value"], templates.web) == ref(canary_id)
    assert alarm["Threshold"] == 100
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [ref(topic_id)]
    _, subscription = only(templates.ops, "AWS::SNS::Subscription")
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == config.alert_email


def resources_under(template: dict[str, Any], value: Any, construct_path: str) -> set[str]:
    """The logical ids ``value`` refers to whose construct path starts with ``construct_path``."""
    return {
        logical_id
        for logical_id in references(value)
        if template["Resources"][logical_id]["Metadata"]["aws:cdk:path"].startswith(construct_path)
    }
