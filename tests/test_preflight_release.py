"""make preflight's ecs-release-strategy check: a running rolling ECS service takes the blue/green
load balancer settings in a rolling deploy before its strategy changes (AWS's documented order),
and the check refuses skipping that step. The web stack is moto's, the service a Stubber's (moto
keeps no deployment strategy). No CDK synth, no AWS."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from cdk_constructs.options import WebReleaseStrategy, WebRuntime
from preflight import CheckResult, Status
from preflight.__main__ import RUNTIME_CHECKS, selected
from preflight.release import check_ecs_release_strategy
from stacks.config import APP_CONFIG, AppConfig, runtime_spec
from stacks.config.runtimes import RUNTIME_SPECS
from stacks.config.sections import WebReleaseConfig
from tests.preflight_helpers import (
    ACCOUNT,
    OTHER_RESOURCE,
    REGION,
    FakeAccount,
    StubbedSession,
    line_of,
    moved,
    own_env,
    ready,
    with_web,
)
from tests.preflight_helpers import account_fixture as account_fixture  # fixtures
from tests.preflight_helpers import fake_aws as fake_aws

WEB_STACK = "three-tier-staging-web"
CLUSTER = "three-tier-staging-web"
SERVICE = "three-tier-staging-web-service"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}"
TARGETS = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup"
RULE = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener-rule/app/web/1/2"
ADVANCED = {
    "alternateTargetGroupArn": f"{TARGETS}/green/2",
    "productionListenerRule": f"{RULE}/3",
    "testListenerRule": f"{RULE}/4",
    "roleArn": f"arn:aws:iam::{ACCOUNT}:role/web-load-balancers",
}
FIX = (
    "fix: deploy once with web.release.strategy=rolling (adds it with a rolling deployment, "
    "AWS's documented first step), then with canary"
)


def _releasing(strategy: WebReleaseStrategy) -> AppConfig:
    """Staging (Fargate) in moto's account, releasing with ``strategy``."""
    bake = 0 if strategy is WebReleaseStrategy.ROLLING else 10
    release = WebReleaseConfig(strategy=strategy, bake_minutes=bake)
    return moved("staging", web=with_web("staging", release=release))


def _check(account: FakeAccount, config: AppConfig) -> CheckResult:
    session = StubbedSession(account.clients, region_name=REGION)
    return check_ecs_release_strategy(session, config, config.environment("staging"))


def _web_stack(account: FakeAccount, outputs: dict[str, str], **resources: Any) -> None:
    """The deployed web stack, as moto holds it: its outputs and (any) resources."""
    template = {
        "Resources": {"Other": OTHER_RESOURCE, **resources},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    account.session.client("cloudformation").create_stack(
        StackName=WEB_STACK, TemplateBody=json.dumps(template)
    )


def _service(
    strategy: str | None, *, advanced: bool, status: str = "ACTIVE", arn: str = SERVICE_ARN
) -> dict[str, Any]:
    """A DescribeServices entry: the service behind the ALB, with ``strategy`` (None: ECS names
    none) and the blue/green load balancer settings or not."""
    balancer: dict[str, Any] = {
        "targetGroupArn": f"{TARGETS}/blue/1",
        "containerName": "web",
        "containerPort": 8080,
    }
    if advanced:
        balancer["advancedConfiguration"] = ADVANCED
    deployment: dict[str, Any] = {"maximumPercent": 200, "minimumHealthyPercent": 100}
    if strategy:
        deployment["strategy"] = strategy
    return {
        "serviceArn": arn,
        "serviceName": SERVICE,
        "status": status,
        "loadBalancers": [balancer],
        "deploymentConfiguration": deployment,
    }


def _running(
    account: FakeAccount, *services: dict[str, Any], cluster: str = CLUSTER, arn: str = SERVICE_ARN
) -> None:
    """The web stack naming the service, and ECS answering DescribeServices with ``services``
    (none: ECS reports it missing), asked for that service on its cluster."""
    _web_stack(account, {"ServiceId": arn})
    failures = [] if services else [{"arn": arn, "reason": "MISSING"}]
    account.stubber("ecs").add_response(
        "describe_services",
        {"services": list(services), "failures": failures},
        {"cluster": cluster, "services": [arn]},
    )


# --- passing ------------------------------------------------------------------------------------


def test_rolling_has_nothing_to_migrate_and_reads_nothing() -> None:
    class NoAws(boto3.Session):
        def client(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a rolling environment needs no AWS call")

    config = _releasing(WebReleaseStrategy.ROLLING)
    result = check_ecs_release_strategy(NoAws(), config, config.environment("staging"))
    assert result == CheckResult.passed("ecs-release-strategy", "rolling: nothing to migrate")


@pytest.mark.parametrize("stack", [False, True], ids=["no-web-stack", "no-service-output"])
def test_before_the_first_deploy_the_service_starts_with_its_strategy(
    stack: bool, account: FakeAccount
) -> None:
    if stack:  # e.g. a first create that failed and rolled back to an empty stack
        _web_stack(account, {"LoadBalancerUrl": "http://web.example.com"})
    result = _check(account, _releasing(WebReleaseStrategy.CANARY))
    assert result == CheckResult.passed(
        "ecs-release-strategy",
        f"no service in {WEB_STACK} yet: the deploy creates it with canary directly",
    )


@pytest.mark.parametrize("current", ["ROLLING", "CANARY", "BLUE_GREEN", None])
@pytest.mark.parametrize(
    "wanted", [s for s in WebReleaseStrategy if s is not WebReleaseStrategy.ROLLING]
)
def test_a_service_with_the_blue_green_load_balancer_settings_may_change_strategy(
    current: str | None, wanted: WebReleaseStrategy, account: FakeAccount
) -> None:
    """The documented second step: the rolling deploy before added advancedConfiguration."""
    _running(account, _service(current, advanced=True))
    result = _check(account, _releasing(wanted))
    assert result == CheckResult.passed(
        "ecs-release-strategy",
        f"{SERVICE} runs {current or 'ROLLING'} with the blue/green load balancer "
        f"configuration: {wanted} is the documented second step",
    )
    account.stubbers["ecs"].assert_no_pending_responses()


def test_a_service_on_another_strategy_already_passes(account: FakeAccount) -> None:
    _running(account, _service("BLUE_GREEN", advanced=False))
    result = _check(account, _releasing(WebReleaseStrategy.CANARY))
    assert result == CheckResult.passed(
        "ecs-release-strategy", f"{SERVICE} runs BLUE_GREEN already"
    )


@pytest.mark.parametrize(
    "status", [None, "DRAINING", "INACTIVE"], ids=["missing", "draining", "inactive"]
)
def test_a_service_that_is_gone_has_nothing_to_migrate(
    status: str | None, account: FakeAccount
) -> None:
    services = [_service("ROLLING", advanced=False, status=status)] if status else []
    _running(account, *services)
    result = _check(account, _releasing(WebReleaseStrategy.CANARY))
    assert result == CheckResult.passed(
        "ecs-release-strategy", f"{SERVICE_ARN} is not running: nothing to migrate"
    )


def test_a_cluster_that_is_gone_has_nothing_to_migrate(account: FakeAccount) -> None:
    _web_stack(account, {"ServiceId": SERVICE_ARN})
    account.stubber("ecs").add_client_error(
        "describe_services", "ClusterNotFoundException", "Cluster not found."
    )
    result = _check(account, _releasing(WebReleaseStrategy.CANARY))
    assert result.status is Status.PASS
    assert result.detail == f"{SERVICE_ARN} is not running: nothing to migrate"


def test_an_app_runner_service_is_replaced_by_a_new_ecs_one(account: FakeAccount) -> None:
    """Moving web.runtime from App Runner to Fargate creates the ECS service: no migration."""
    arn = f"arn:aws:apprunner:{REGION}:{ACCOUNT}:service/three-tier-staging-web/0123abcd"
    _web_stack(account, {"ServiceId": arn})
    account.stubber("ecs")  # no answer queued: any ECS call fails the test
    result = _check(account, _releasing(WebReleaseStrategy.CANARY))
    assert result == CheckResult.passed(
        "ecs-release-strategy", f"{arn} is not an ECS service: the deploy creates one with canary"
    )


def test_a_short_service_arn_is_looked_up_on_the_stacks_cluster(account: FakeAccount) -> None:
    """ECS's old ARN format names no cluster: the web stack's own cluster is asked."""
    short_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{SERVICE}"
    cluster = {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "web-cluster"}}
    _web_stack(account, {"ServiceId": short_arn}, Cluster=cluster)
    account.stubber("ecs").add_response(
        "describe_services",
        {"services": [_service("ROLLING", advanced=False, arn=short_arn)], "failures": []},
        {"cluster": "web-cluster", "services": [short_arn]},
    )
    result = _check(account, _releasing(WebReleaseStrategy.CANARY))
    assert result.status is Status.FAIL
    account.stubbers["ecs"].assert_no_pending_responses()


# --- failing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["ROLLING", None], ids=["rolling", "no-strategy"])
def test_a_rolling_service_without_the_settings_cannot_change_strategy_in_one_deploy(
    current: str | None, account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging")  # the shipped staging: canary
    assert config.environment("staging").web.release.strategy is WebReleaseStrategy.CANARY
    _running(account, _service(current, advanced=False))
    code, lines = account.run(capsys, config, "staging")
    assert code == 1
    assert line_of(lines, "ecs-release-strategy") == (
        "FAIL ecs-release-strategy: the running service has no blue/green load balancer "
        f"configuration yet ({SERVICE} runs ROLLING, web.release.strategy is canary); {FIX}"
    )
    assert [line for line in lines if line.startswith("FAIL ")] == [
        line_of(lines, "ecs-release-strategy")
    ]


def test_ecs_refusing_the_read_fails_like_any_read(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """No guess on AccessDenied: the runner's FAIL line, as for every other check."""
    config = ready(account, "staging")
    _web_stack(account, {"ServiceId": SERVICE_ARN})
    account.stubber("ecs").add_client_error(
        "describe_services", "AccessDeniedException", "not authorized to perform ecs:Describe"
    )
    code, lines = account.run(capsys, config, "staging")
    assert code == 1
    assert line_of(lines, "ecs-release-strategy") == (
        "FAIL ecs-release-strategy: AWS error AccessDeniedException: not authorized to perform "
        "ecs:Describe; fix: check that the caller may make this read-only call, then make "
        "preflight ENV=staging"
    )


def test_cloudformation_refusing_the_read_is_no_pass(account: FakeAccount) -> None:
    account.stubber("cloudformation").add_client_error(
        "describe_stacks",
        "AccessDenied",
        "not authorized",
        expected_params={"StackName": WEB_STACK},
    )
    with pytest.raises(ClientError, match="AccessDenied"):
        _check(account, _releasing(WebReleaseStrategy.BLUE_GREEN))


# --- where it runs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_name", "runtime"),
    [
        (env.name, runtime)
        for env in APP_CONFIG.environments
        for runtime in WebRuntime
        if runtime_spec(runtime).api_kind is env.api.kind  # the runtimes its API goes with
    ],
)
def test_the_check_runs_for_fargate_environments_only(env_name: str, runtime: WebRuntime) -> None:
    if runtime is WebRuntime.FARGATE:
        web = with_web(env_name, runtime=runtime)
    else:  # without what only Fargate offers (the domain too, where the runtime takes none)
        domain = ("domain_name", "hosted_zone_id", "hosted_zone_name")
        plain = {} if runtime_spec(runtime).custom_domain else dict.fromkeys(domain)
        web = with_web(env_name, runtime=runtime, spot=False, release=WebReleaseConfig(), **plain)
    env = replace(own_env(env_name), web=web)
    for ci in (False, True):
        chosen = dict(selected(env, ci=ci))
        assert ("ecs-release-strategy" in chosen) == (runtime is WebRuntime.FARGATE)
        if runtime is WebRuntime.FARGATE:
            assert chosen["ecs-release-strategy"] is check_ecs_release_strategy
    assert "ecs-release-strategy" in runtime_spec(WebRuntime.FARGATE).preflight_checks


def test_every_check_a_runtime_names_is_registered() -> None:
    named = {name for spec in RUNTIME_SPECS.values() for name in spec.preflight_checks}
    assert named == set(RUNTIME_CHECKS)
