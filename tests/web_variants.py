"""The web tier's templates and the checks every runtime shares, for the web test modules.

The ``variants`` fixture hands out the environment variants the web tests need (synthesized once
per session, in the background: tests/variant_sets.py): every environment on App Runner, dev
with an image tag on Fargate and on App Runner, and staging on Fargate Spot; each with cdk-nag,
its web and ops stacks through cfn-lint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest

from cdk_constructs.options import WebRuntime
from cdk_constructs.web_runtime.app_runner import XRAY_WRITE_ACTIONS
from release.contract import RELEASE_OUTPUT, WebRelease
from stacks.config import APP_CONFIG, EnvironmentConfig
from stacks.config.sections import WebReleaseConfig
from stacks.web_stack import API_CLIENT_FIELDS, APP_SECRETS_VARIABLE
from tests.synth import CONTAINER_SHAPE_ENV_NAMES, SynthesizedEnv, Tier
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
    return _variant(
        env,
        suffix,
        runtime=runtime,
        release=WebReleaseConfig(),
        spot=False,
        domain_name=None,
        hosted_zone_id=None,
        hosted_zone_name=None,
        **web,
    )


def variant_configs() -> list[EnvironmentConfig]:
    """Every env of today's shape on App Runner, dev on Fargate and on App Runner with an image
    tag, and staging on Fargate Spot."""
    dev, staging = APP_CONFIG.environment("dev"), APP_CONFIG.environment("staging")
    return [
        *(
            on_runtime(env, WebRuntime.APP_RUNNER, "ar")
            for env in APP_CONFIG.environments
            if env.name in CONTAINER_SHAPE_ENV_NAMES
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


def assert_runtime_role(templates: Templates, role_id: str) -> None:
    """Exactly: read both secrets, and Get/Put/Update/Delete items of the session table."""
    role = templates.web["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    client_secret_id, app_secret_id = secret_ids(templates)
    table_id, _ = only(templates.data, "AWS::DynamoDB::GlobalTable")
    granted: dict[str, set[str]] = {}
    key_id, _ = only(templates.network, "AWS::KMS::Key")
    for statement in policy_statements_of_role(templates.web, role_id):
        assert statement["Effect"] == "Allow"
        if actions_of(statement) == {"kms:Decrypt"}:
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
            granted.setdefault(key, set()).update(actions_of(statement))
    secret_read = {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
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
    """What the web ACL must protect: the ALB on Fargate, the service on App Runner."""
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
