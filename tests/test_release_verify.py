"""``python -m release verify`` and ``explain``: the job never reports success after ECS or
CodeDeploy rolled a release back (SST issue 5922), names the tier and the alarm when one did,
and writes what shifted, how and how long it baked to the job summary. The fake account:
``test_release_fakes.py``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import ANY
from moto.codedeploy.models import codedeploy_backends

from cdk_constructs.github_deploy_role import RELEASE_READ_ACTIONS
from cdk_constructs.options import WebRuntime
from release.contract import RELEASE_OUTPUT, SERVICE_ID_OUTPUT, watches_ecs
from release.outcome import API_MARGIN_MINUTES, WEB_MARGIN_MINUTES
from release.verify import NO_ROLLBACK
from tests.preflight_helpers import ACCOUNT, REGION
from tests.test_release_fakes import (
    API_ERRORS,
    API_RELEASE,
    HOOK,
    NEW_IMAGE,
    OLD_REVISION,
    SERVICE_ARN,
    WEB_5XX,
    WEB_P99,
    WEB_RELEASE,
    ReleaseAccount,
    appspec,
    at,
    record_of,
)
from tests.test_release_fakes import account_fixture as account_fixture
from tests.test_release_fakes import fake_aws as fake_aws

# --- web ----------------------------------------------------------------------------------------


def test_a_successful_web_release_exits_0_records_the_image_and_sums_up(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_stack()
    account.ecs_deployment("SUCCESSFUL")
    account.api_unchanged()
    code, out, err = account.run(capsys, "verify", "prod")
    assert (code, err) == (0, "")
    assert "web: shifted (task definition threetierprodwebTask:41 -> threetierprodwebTask:42" in out
    assert record_of(account, "web") == {"current": NEW_IMAGE, "previous": None, "at": ANY}
    assert record_of(account, "api") == {"current": "2", "previous": None, "at": ANY}
    summary = account.summary.read_text()
    assert "### Releases of prod" in summary
    (web_row,) = [line for line in summary.splitlines() if line.startswith("| web |")]
    assert "| shifted |" in web_row
    assert "image three-tier/prod/web:aaa111 -> three-tier/prod/web:bbb222" in web_row
    assert "blue/green" in web_row
    assert "15 min configured, 17.0 min measured" in web_row  # startedAt -> finishedAt
    assert f"{WEB_5XX}, {WEB_P99}" in web_row
    (api_row,) = [line for line in summary.splitlines() if line.startswith("| api |")]
    assert "| unchanged |" in api_row
    assert "canary: 10% for 10 min, then all" in api_row
    assert API_ERRORS in api_row


def test_verify_waits_for_the_web_release_to_end(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_stack()
    account.ecs_deployment("IN_PROGRESS", "IN_PROGRESS", "SUCCESSFUL")
    account.api_unchanged()
    code, _, _ = account.run(capsys, "verify", "prod")
    assert code == 0
    assert account.clock.slept == [15.0, 15.0]


def test_a_web_rollback_on_an_alarm_fails_the_job_naming_tier_and_alarm(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stack update succeeded (CREATE_COMPLETE here), ECS rolled the release back: exit 1."""
    account.web_stack()
    account.ecs_deployment(
        "ROLLBACK_SUCCESSFUL",
        alarms={
            "status": "TRIGGERED",
            "alarmNames": list(WEB_RELEASE.alarms),
            "triggeredAlarmNames": [WEB_5XX],
        },
        rollback={"reason": "alarm triggered", "serviceRevisionArn": OLD_REVISION},
    )
    account.alarm_history(WEB_5XX, at(12, 3, 10))
    account.api_unchanged()
    code, out, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err == (
        f"web release rolled back: alarm {WEB_5XX} went to ALARM at 12:03:10Z (alarm triggered)\n"
    )
    assert record_of(account, "web") is None  # nothing recorded for a rolled-back release
    summary = account.summary.read_text()
    assert f"- {err.strip()}" in summary
    assert "| web | rolled back | attempted: task definition" in summary
    assert "api: unchanged" in out


def test_without_triggered_names_the_alarm_history_names_the_alarm(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_stack()
    account.ecs_deployment(
        "ROLLBACK_SUCCESSFUL",
        deploymentCircuitBreaker={"status": "TRIGGERED", "failureCount": 3, "threshold": 3},
    )
    account.alarm_history(WEB_5XX, None)
    account.alarm_history(WEB_P99, at(9, 15, 0))
    account.api_unchanged()
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err == (
        f"web release rolled back: alarm {WEB_P99} went to ALARM at 09:15:00Z, "
        "the circuit breaker tripped after 3 failed tasks\n"
    )


def test_a_triggered_alarm_without_a_name_or_history_still_says_an_alarm_went_off(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_stack()
    account.ecs_deployment(
        "ROLLBACK_SUCCESSFUL",
        alarms={"status": "TRIGGERED", "alarmNames": list(WEB_RELEASE.alarms)},
    )
    account.alarm_history(WEB_5XX, None)
    account.alarm_history(WEB_P99, None)
    account.api_unchanged()
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert (
        err
        == f"web release rolled back: a release alarm went off (watched: {WEB_5XX}, {WEB_P99})\n"
    )


def test_a_web_release_still_running_when_the_wait_ends_fails(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """blue/green with a 15 min bake: verify waits 15 + the margin, then gives up."""
    polls = (15 + WEB_MARGIN_MINUTES) * 4
    account.web_stack()
    account.ecs_deployment(*["IN_PROGRESS"] * (polls + 1))
    account.api_unchanged()
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err.startswith("web release still IN_PROGRESS when verify stopped waiting")
    assert len(account.clock.slept) == polls


def test_app_runner_is_left_to_its_workflow_step(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_stack(replace(WEB_RELEASE, runtime=WebRuntime.APP_RUNNER, alarms=()))
    account.api_unchanged()
    code, out, _ = account.run(capsys, "verify", "prod")
    assert code == 0
    assert "web: rolled by App Runner" in out
    assert "| web | rolled by App Runner |" in account.summary.read_text()
    assert record_of(account, "web") is None


# --- api ----------------------------------------------------------------------------------------


def test_a_succeeded_api_release_with_the_alias_on_the_version_exits_0(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_unchanged()
    account.api_stack("2")
    account.function(versions=2, alias_on="2")
    account.group()
    account.deployment("1", "2", "Succeeded")
    code, out, err = account.run(capsys, "verify", "prod")
    assert (code, err) == (0, "")
    assert "api: shifted (version 1 -> 2)" in out
    assert record_of(account, "api") == {"current": "2", "previous": None, "at": ANY}
    (api_row,) = [row for row in account.summary.read_text().splitlines() if "| api |" in row]
    assert "10 min configured" in api_row


def test_a_succeeded_deployment_with_the_alias_elsewhere_fails(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_unchanged()
    account.api_stack("2")
    account.function(versions=2, alias_on="1")
    account.group()
    identifier = account.deployment("1", "2", "Succeeded")
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err == (
        f"api release {identifier} succeeded but alias live is on version 1, "
        "not the stack's version 2\n"
    )


def stubbed_deployment(
    account: ReleaseAccount, status: str, error: dict[str, str], **more: Any
) -> None:
    """CodeDeploy (Stubber) with one deployment of the group, as the API needs it."""
    stubber = account.stub("codedeploy")
    stubber.add_response(
        "list_deployments",
        {"deployments": ["d-STOPPED1"]},
        {
            "applicationName": API_RELEASE.application,
            "deploymentGroupName": API_RELEASE.deployment_group,
            "createTimeRange": {"start": ANY},
        },
    )
    created = account.clock.moment + timedelta(seconds=10)
    info = {
        "deploymentId": "d-STOPPED1",
        "applicationName": API_RELEASE.application,
        "deploymentGroupName": API_RELEASE.deployment_group,
        "status": status,
        "creator": "CloudFormation",
        "createTime": created,
        "startTime": created,
        "completeTime": created + timedelta(minutes=4),
        "errorInformation": error,
        "revision": {
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": appspec("1", "2")},
        },
        **more,
    }
    stubber.add_response("get_deployment", {"deploymentInfo": info}, {"deploymentId": "d-STOPPED1"})


def test_an_api_release_stopped_on_an_alarm_fails_naming_the_alarm(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_unchanged()
    account.api_stack("2")
    account.function(versions=2, alias_on="1")
    stubbed_deployment(
        account,
        "Stopped",
        {"code": "ALARM_ACTIVE", "message": f"Activated alarms: {API_ERRORS}"},
        rollbackInfo={"rollbackDeploymentId": "d-BACK1", "rollbackMessage": "rolled back"},
    )
    account.alarm_history(API_ERRORS, at(12, 7, 45))
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err == (
        f"api release rolled back: alarm {API_ERRORS} went to ALARM at 12:07:45Z "
        "(CodeDeploy d-STOPPED1 Stopped: ALARM_ACTIVE)\n"
    )
    assert record_of(account, "api") is None


def test_a_failed_pre_traffic_hook_is_named(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_unchanged()
    account.api_stack("2")
    account.function(versions=2, alias_on="1")
    message = "The deployment failed because a lifecycle hook returned Failed"
    stubbed_deployment(account, "Failed", {"code": "HOOK_EXECUTION_FAILURE", "message": message})
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err == (
        f"api release rolled back: the pre-traffic hook {HOOK} failed: {message} "
        "(CodeDeploy d-STOPPED1 Failed: HOOK_EXECUTION_FAILURE)\n"
    )


def test_an_api_version_the_alias_never_reached_fails(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_unchanged()
    account.api_stack("2")
    account.function(versions=2, alias_on="1")
    account.group()
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err.startswith("api release did not happen: alias live is on version 1, the stack")


def test_rollback_deployments_are_not_the_release(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """CodeDeploy's own rollback deployment succeeds after the release stopped: still exit 1."""
    account.web_unchanged()
    account.api_stack("2")
    account.function(versions=2, alias_on="1")
    account.group()
    account.deployment("1", "2", "Stopped")
    rollback = account.deployment("2", "1", "Succeeded")
    codedeploy_backends[ACCOUNT][REGION].deployments[rollback].creator = "codeDeployRollback"
    account.alarm_history(API_ERRORS, None)
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err.startswith("api release rolled back:")


# --- explain ------------------------------------------------------------------------------------


def test_explain_names_the_tier_that_rolled_back_and_exits_0(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_unchanged()
    account.api_stack("1")  # the stack rolled back to the version before
    account.function(versions=2, alias_on="1")
    stubbed_deployment(account, "Stopped", {"code": "ALARM_ACTIVE", "message": "alarms went off"})
    account.alarm_history(API_ERRORS, at(12, 7, 45))
    code, out, err = account.run(capsys, "explain", "prod")
    assert (code, err) == (0, "")
    assert out == (
        f"api release rolled back: alarm {API_ERRORS} went to ALARM at 12:07:45Z "
        "(CodeDeploy d-STOPPED1 Stopped: ALARM_ACTIVE)\n"
    )
    assert "### Failed deploy: releases of prod" in account.summary.read_text()


def test_explain_without_a_rollback_points_at_cloudformation(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.web_unchanged()
    account.api_unchanged()
    code, out, _ = account.run(capsys, "explain", "prod")
    assert (code, out) == (0, f"{NO_ROLLBACK}\n")
    assert NO_ROLLBACK in account.summary.read_text()


def test_explain_of_a_stack_that_is_not_there_is_a_line_not_a_traceback(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = account.run(capsys, "explain", "prod")
    assert code == 0
    assert out.splitlines() == [
        f"web release not inspected: stack three-tier-prod-web does not exist in {REGION}",
        f"api release not inspected: stack three-tier-prod-api does not exist in {REGION}",
        NO_ROLLBACK,
    ]


def test_verify_of_a_missing_stack_or_output_is_one_line_each(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.stack("web", {SERVICE_ID_OUTPUT: SERVICE_ARN})
    code, _, err = account.run(capsys, "verify", "prod")
    assert code == 1
    assert err.splitlines() == [
        "web release not inspected: stack three-tier-prod-web has no output Release "
        "(deployed before releases were tracked? deploy it once more)",
        f"api release not inspected: stack three-tier-prod-api does not exist in {REGION}",
    ]


@pytest.mark.parametrize("command", [("verify", "prod"), ("rollback", "prod", "api")])
def test_a_release_output_that_is_not_one_is_one_line(
    command: tuple[str, ...], account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    if command[0] == "verify":
        account.web_unchanged()
    account.stack("api", {RELEASE_OUTPUT: '{"strategy": "canary"}'})
    code, _, err = account.run(capsys, *command)
    assert code == 1
    where = "api release not inspected" if command[0] == "verify" else "api"
    assert err == (
        f"{where}: stack three-tier-prod-api's output Release is not a release "
        "(KeyError: 'alarms')\n"
    )


def test_without_github_step_summary_the_summary_is_printed(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    account.summary = None  # type: ignore[assignment]
    account.web_unchanged()
    account.api_unchanged()
    code, out, _ = account.run(capsys, "verify", "prod")
    assert code == 0
    assert "| tier | outcome | what shifted | strategy | bake | alarms watched |" in out


# --- bounds -------------------------------------------------------------------------------------


def test_the_waits_cover_each_shipped_release() -> None:
    """Steps + bake + margin, from the Release contract the stacks write."""
    from release.outcome import api_wait_minutes, web_wait_minutes

    assert web_wait_minutes(WEB_RELEASE) == 15 + WEB_MARGIN_MINUTES
    canary = replace(WEB_RELEASE, strategy="canary", step_percent=10, step_bake_minutes=5)
    assert web_wait_minutes(replace(canary, bake_minutes=10)) == 5 + 10 + WEB_MARGIN_MINUTES
    linear = replace(canary, strategy="linear", step_percent=25, bake_minutes=0)
    assert web_wait_minutes(linear) == 4 * 5 + WEB_MARGIN_MINUTES
    assert api_wait_minutes(API_RELEASE) == 10 + API_MARGIN_MINUTES
    assert api_wait_minutes(replace(API_RELEASE, strategy="linear", percent=30)) == (
        4 * 10 + API_MARGIN_MINUTES
    )
    everything = replace(API_RELEASE, strategy="all_at_once", percent=0, interval_minutes=0)
    assert api_wait_minutes(everything) == API_MARGIN_MINUTES


def test_the_web_container_and_stack_names_are_the_stacks() -> None:
    """release is CDK-free, so it repeats two names the CDK side defines: kept equal here."""
    from cdk_constructs.web_runtime.fargate_task import CONTAINER_NAME
    from release.rollback import WEB_STACK_ID
    from release.web import WEB_CONTAINER
    from stacks.platform_stack import Tier

    assert WEB_CONTAINER == CONTAINER_NAME
    assert Tier.WEB.title() == WEB_STACK_ID


def test_verify_and_explain_call_only_what_the_deploy_role_allows(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    """The workflow runs them with the GitHub deploy role: every call they make is one of its
    release statements' actions (test_github_oidc.py scopes those to the environment)."""
    allowed = {action for actions in RELEASE_READ_ACTIONS.values() for action in actions}
    account.web_stack()
    account.ecs_deployment("ROLLBACK_SUCCESSFUL")
    account.alarm_history(WEB_5XX, at(12, 3, 10))
    account.alarm_history(WEB_P99, None)
    account.api_stack("2")
    account.function(versions=2, alias_on="2")
    account.group()
    account.deployment("1", "2", "Succeeded")
    assert account.run(capsys, "verify", "prod")[0] == 1
    account.no_service_deployment()
    assert account.run(capsys, "explain", "prod")[0] == 0
    assert account.calls == allowed  # each allowed action used, none beyond them


def test_only_app_runner_releases_outside_ecs() -> None:
    assert watches_ecs(WebRuntime.FARGATE)
    assert not watches_ecs(WebRuntime.APP_RUNNER)
