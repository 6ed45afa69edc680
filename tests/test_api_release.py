"""How the API function releases, as synthesized for each environment: a retained version per
change, the ``live`` alias API Gateway invokes, the CodeDeploy deployment group that moves it
(config from ``api.release``, release alarms, automatic rollback) and the pre-traffic hook.

CloudFormation runs the deployment through the alias's ``CodeDeployLambdaAliasUpdate`` update
policy when an update changes the alias's version; a new alias points at its version at once
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatepolicy.html)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from cdk_constructs.api_release import (
    ALIAS_NAME,
    MAX_SHIFT_MINUTES,
    MAX_STEP_PERCENT,
    deployment_config,
    linear_shift_minutes,
)
from cdk_constructs.options import ApiReleaseStrategy
from release.contract import (
    FUNCTION_NAME_OUTPUT,
    FUNCTION_VERSION_OUTPUT,
    RELEASE_OUTPUT,
    ApiRelease,
)
from release_hook import handler as hook
from stacks.config.sections import ApiReleaseConfig
from tests.api_function import api_alias, api_function
from tests.config_helpers import assert_one_line, error_of, with_section
from tests.synth import SynthesizedEnv, scratch_app
from tests.template_queries import (
    get_att,
    imported,
    only,
    policy_statements_of_role,
    ref,
    resources,
)


def canary(percent: int, minutes: int) -> dict[str, Any]:
    return {
        "Type": "TimeBasedCanary",
        "TimeBasedCanary": {"CanaryPercentage": percent, "CanaryInterval": minutes},
    }


SHIPPED_ROUTING: dict[str, dict[str, Any] | None] = {
    "dev": None,
    "staging": canary(10, 5),
    "prod": canary(10, 10),
    "classic": None,
    "ec2": None,
    "express": None,
}
"""The shipped releases: dev, classic, ec2 and express all at once; staging and prod 10% first,
the rest after 5 / 10 min."""
ALL_AT_ONCE = "CodeDeployDefault.LambdaAllAtOnce"


def prefix(env: SynthesizedEnv) -> str:
    return f"three-tier-{env.config.name}"


def deployment_group(env: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    return only(env.api_json, "AWS::CodeDeploy::DeploymentGroup")


def version_id(env: SynthesizedEnv) -> str:
    function_id, _ = api_function(env.api_json)
    (found,) = [
        logical_id
        for logical_id, version in resources(env.api_json, "AWS::Lambda::Version").items()
        if version["Properties"]["FunctionName"] == ref(function_id)
    ]
    return found


def hook_function(env: SynthesizedEnv) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, function)
        for logical_id, function in resources(env.api_json, "AWS::Lambda::Function").items()
        if function["Properties"].get("Handler") == "release_hook.handler.lambda_handler"
    ]
    return found


def release_alarms(env: SynthesizedEnv) -> dict[str, dict[str, Any]]:
    """Alarm name -> properties, for the alarms the deployment group watches."""
    _, group = deployment_group(env)
    config = group["Properties"]["AlarmConfiguration"]
    assert config["Enabled"] is True
    alarms = env.api_json["Resources"]
    return {
        alarms[entry["Name"]["Ref"]]["Properties"]["AlarmName"]: alarms[entry["Name"]["Ref"]][
            "Properties"
        ]
        for entry in config["Alarms"]
    }


# --- the deployment group --------------------------------------------------------------------


def test_the_group_has_literal_names_and_the_environments_traffic_routing(
    env: SynthesizedEnv,
) -> None:
    application_id, application = only(env.api_json, "AWS::CodeDeploy::Application")
    _, group = deployment_group(env)
    props = group["Properties"]
    assert application["Properties"]["ApplicationName"] == f"{prefix(env)}-api"
    assert application["Properties"]["ComputePlatform"] == "Lambda"
    assert props["ApplicationName"] == ref(application_id)
    assert props["DeploymentGroupName"] == f"{prefix(env)}-api"
    assert props["DeploymentStyle"] == {
        "DeploymentOption": "WITH_TRAFFIC_CONTROL",
        "DeploymentType": "BLUE_GREEN",
    }
    expected = SHIPPED_ROUTING[env.config.name]
    configs = resources(env.api_json, "AWS::CodeDeploy::DeploymentConfig")
    if expected is None:
        assert env.config.api.release.strategy is ApiReleaseStrategy.ALL_AT_ONCE
        assert props["DeploymentConfigName"] == ALL_AT_ONCE
        assert configs == {}
        return
    ((config_id, config),) = configs.items()
    assert props["DeploymentConfigName"] == ref(config_id)
    assert config["Properties"] == {"ComputePlatform": "Lambda", "TrafficRoutingConfig": expected}


def test_the_group_rolls_back_on_failure_and_on_alarm(env: SynthesizedEnv) -> None:
    _, group = deployment_group(env)
    rollback = group["Properties"]["AutoRollbackConfiguration"]
    assert rollback["Enabled"] is True
    assert sorted(rollback["Events"]) == ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]


def test_the_group_watches_exactly_the_release_alarms(env: SynthesizedEnv) -> None:
    function_id, _ = api_function(env.api_json)
    limits, api = env.config.alarms, env.config.api
    alias_dimensions = [
        {"Name": "FunctionName", "Value": ref(function_id)},
        {"Name": "Resource", "Value": {"Fn::Join": ["", [ref(function_id), f":{ALIAS_NAME}"]]}},
    ]
    _, rest_api = only(env.api_json, "AWS::ApiGateway::RestApi")
    _, stage = only(env.api_json, "AWS::ApiGateway::Stage")
    stage_dimensions = [
        {"Name": "ApiName", "Value": rest_api["Properties"]["Name"]},
        {"Name": "Stage", "Value": stage["Properties"]["StageName"]},
    ]
    name = f"{prefix(env)}-api-release"
    # (namespace, metric, statistic, dimensions, threshold) by alarm name.
    expected = {
        f"{name}-errors": ("AWS/Lambda", "Errors", "Sum", alias_dimensions, limits.lambda_errors),
        f"{name}-throttles": (
            "AWS/Lambda", "Throttles", "Sum", alias_dimensions, limits.lambda_throttles,
        ),
        f"{name}-duration-p99": (
            "AWS/Lambda", "Duration", "p99", alias_dimensions,
            api.timeout_seconds * 1000 * limits.lambda_duration_percent_of_timeout / 100,
        ),
        f"{name}-5xx-rate": (
            "AWS/ApiGateway", "5XXError", "Average", stage_dimensions,
            limits.api_5xx_rate_percent / 100,
        ),
    }  # fmt: skip
    alarms = release_alarms(env)
    assert set(alarms) == set(expected)
    assert len(resources(env.api_json, "AWS::CloudWatch::Alarm")) == len(expected)
    for alarm_name, (namespace, metric, statistic, dimensions, threshold) in expected.items():
        alarm = alarms[alarm_name]
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric), alarm_name
        assert alarm.get("Statistic", alarm.get("ExtendedStatistic")) == statistic, alarm_name
        assert alarm["Dimensions"] == dimensions, alarm_name
        assert alarm["Threshold"] == pytest.approx(threshold), alarm_name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (
            60,
            1,
            1,
        )
        assert alarm["TreatMissingData"] == "notBreaching"


# --- the alias, its version and the hook -----------------------------------------------------


def test_the_alias_update_runs_the_deployment_with_the_pre_traffic_hook(
    env: SynthesizedEnv,
) -> None:
    _, alias = api_alias(env.api_json)
    application_id, _ = only(env.api_json, "AWS::CodeDeploy::Application")
    group_id, _ = deployment_group(env)
    hook_id, _ = hook_function(env)
    assert alias["Properties"]["FunctionVersion"] == get_att(version_id(env), "Version")
    assert alias["UpdatePolicy"] == {
        "CodeDeployLambdaAliasUpdate": {
            "ApplicationName": ref(application_id),
            "DeploymentGroupName": ref(group_id),
            "BeforeAllowTrafficHook": ref(hook_id),
        }
    }
    # The hook is updated to the new version's ARN before the alias's update runs the
    # deployment; otherwise it could check the version the alias is leaving.
    assert {hook_id, group_id} <= set(alias["DependsOn"])
    assert alias["Properties"]["Name"] == ALIAS_NAME


def test_old_versions_are_retained(env: SynthesizedEnv) -> None:
    """CDK names the version after a hash of the function, so a change publishes a new one and
    drops the old one from the template: retained, it stays for a manual rollback.
    ``RetainExceptOnCreate`` is the platform's Retain (a failed first create leaves nothing)."""
    version = env.api_json["Resources"][version_id(env)]
    assert version["DeletionPolicy"] == "RetainExceptOnCreate"
    assert version["UpdateReplacePolicy"] == "Retain"


def test_the_hook_checks_the_new_version_and_may_invoke_only_the_functions_versions(
    env: SynthesizedEnv,
) -> None:
    function_id, _ = api_function(env.api_json)
    application_id, _ = only(env.api_json, "AWS::CodeDeploy::Application")
    group_id, _ = deployment_group(env)
    _, function = hook_function(env)
    props = function["Properties"]
    assert props["Environment"]["Variables"] == {
        hook.TARGET_VERSION_ENV: ref(version_id(env)),
        hook.TARGET_TIMEOUT_ENV: str(env.config.api.timeout_seconds),
    }
    assert "VpcConfig" not in props
    assert props["Timeout"] * 1000 < 3_600_000  # reports within CodeDeploy's hour per hook
    role_id = props["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in env.api_json["Resources"][role_id]["Properties"]
    by_action: dict[str, list[Any]] = {}
    for statement in policy_statements_of_role(env.api_json, role_id):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        for action in actions:
            by_action.setdefault(action, []).append(statement["Resource"])
    assert by_action.pop("lambda:InvokeFunction") == [
        {"Fn::Join": ["", [get_att(function_id, "Arn"), ":*"]]}
    ]
    (report,) = by_action.pop("codedeploy:PutLifecycleEventHookExecutionStatus")
    parts = report["Fn::Join"][1]
    assert parts[0].endswith(":deploymentgroup:")
    assert parts[1:] == [ref(application_id), "/", ref(group_id)]
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert by_action.pop("logs:CreateLogStream") == [get_att(log_group_id, "Arn")]
    assert by_action.pop("logs:PutLogEvents") == [get_att(log_group_id, "Arn")]
    assert set(by_action) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_the_hooks_log_group_is_named_retained_and_encrypted(env: SynthesizedEnv) -> None:
    _, function = hook_function(env)
    log_group = env.api_json["Resources"][
        function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    ]
    props = log_group["Properties"]
    assert props["LogGroupName"].startswith(f"/three-tier/{env.config.name}/")
    assert props["RetentionInDays"] == env.config.log_retention_days
    key = imported(props["KmsKeyId"], env.network_json)
    assert key["Fn::GetAtt"][1] == "Arn"
    assert env.network_json["Resources"][key["Fn::GetAtt"][0]]["Type"] == "AWS::KMS::Key"


def test_api_gateway_may_invoke_the_alias_only(env: SynthesizedEnv) -> None:
    alias_id, _ = api_alias(env.api_json)
    permissions = [
        permission["Properties"]
        for permission in resources(env.api_json, "AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(permissions) == len(resources(env.api_json, "AWS::ApiGateway::Method"))
    assert {str(permission["FunctionName"]) for permission in permissions} == {str(ref(alias_id))}


def test_the_ops_alarms_still_see_every_version(env: SynthesizedEnv) -> None:
    """The ops stack alarms on the function by ``FunctionName`` alone: "aggregate metrics for
    all versions and aliases of a function"
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics.html)."""
    function_id, _ = api_function(env.api_json)
    errors = [
        alarm["Properties"]
        for alarm in resources(env.ops_json, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "Errors"
    ]
    assert errors
    for alarm in errors:
        (dimension,) = alarm["Dimensions"]
        assert dimension["Name"] == "FunctionName"
        assert imported(dimension["Value"], env.api_json) == ref(function_id)


# --- what the stack tells the release tooling ------------------------------------------------


def test_the_outputs_describe_the_release(env: SynthesizedEnv) -> None:
    outputs = env.api_json["Outputs"]
    release = env.config.api.release
    gradual = release.strategy is not ApiReleaseStrategy.ALL_AT_ONCE
    function_id, _ = api_function(env.api_json)
    assert ApiRelease.from_json(outputs[RELEASE_OUTPUT]["Value"]) == ApiRelease(
        strategy=release.strategy.value,
        percent=release.percent if gradual else 0,
        interval_minutes=release.interval_minutes if gradual else 0,
        alarms=tuple(release_alarms(env)),
        application=f"{prefix(env)}-api",
        deployment_group=f"{prefix(env)}-api",
        alias=ALIAS_NAME,
    )
    assert outputs[FUNCTION_NAME_OUTPUT]["Value"] == ref(function_id)
    assert outputs[FUNCTION_VERSION_OUTPUT]["Value"] == get_att(version_id(env), "Version")


# --- CodeDeploy's limits ---------------------------------------------------------------------


def _routing(release: ApiReleaseConfig) -> dict[str, Any]:
    stack = Stack(scratch_app(), "Release")
    deployment_config(stack, release)
    (config,) = (
        Template.from_stack(stack).find_resources("AWS::CodeDeploy::DeploymentConfig").values()
    )
    routing: dict[str, Any] = config["Properties"]["TrafficRoutingConfig"]
    return routing


def test_the_config_asks_codedeploy_for_no_more_than_it_allows() -> None:
    """CodeDeploy's limits: at most 99% in one increment and 2880 minutes from the first shift
    to the last (https://docs.aws.amazon.com/codedeploy/latest/userguide/limits.html). The
    config refuses a step above 99% and an interval above 60 minutes, so every canary fits."""
    assert (MAX_STEP_PERCENT, MAX_SHIFT_MINUTES) == (99, 2880)
    error = error_of(lambda: with_section("api", release=ApiReleaseConfig(percent=100)))
    assert_one_line(error, "dev", "api.release.percent")
    error = error_of(lambda: with_section("api", release=ApiReleaseConfig(interval_minutes=61)))
    assert_one_line(error, "dev", "api.release.interval_minutes")
    largest = ApiReleaseConfig(strategy=ApiReleaseStrategy.CANARY, percent=99, interval_minutes=60)
    assert _routing(largest) == canary(99, 60)


def test_a_linear_release_within_codedeploys_limit_is_time_based_linear() -> None:
    release = ApiReleaseConfig(strategy=ApiReleaseStrategy.LINEAR, percent=10, interval_minutes=60)
    assert linear_shift_minutes(10, 60) == 540  # 10% at once, then 9 more steps an hour apart
    assert _routing(release) == {
        "Type": "TimeBasedLinear",
        "TimeBasedLinear": {"LinearPercentage": 10, "LinearInterval": 60},
    }


def test_a_linear_release_longer_than_codedeploy_allows_fails_the_synth_in_one_line() -> None:
    release = ApiReleaseConfig(strategy=ApiReleaseStrategy.LINEAR, percent=1, interval_minutes=60)
    assert linear_shift_minutes(1, 60) > MAX_SHIFT_MINUTES
    with pytest.raises(ValueError, match="CodeDeploy allows 2880") as raised:
        _routing(release)
    assert "\n" not in str(raised.value)
