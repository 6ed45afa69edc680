"""``make rollback ENV=... TIER=web|api`` (``python -m release rollback``): back to the
recorded previous release, through CloudFormation for the web tier and a CodeDeploy deployment
for the API's alias; refused in one line when there is nothing safe to go back to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from moto.codedeploy.models import codedeploy_backends

from cdk_constructs.options import WebRuntime
from release.record import parameter_name, read_record, record_release
from release.rollback import ALL_AT_ONCE
from stacks.config import AppConfig
from tests.preflight_helpers import ACCOUNT, REGION
from tests.test_release_fakes import (
    CONFIG,
    FUNCTION,
    HOOK,
    NEW_IMAGE,
    OLD_IMAGE,
    REGISTRY,
    ReleaseAccount,
    set_status,
)
from tests.test_release_fakes import account_fixture as account_fixture
from tests.test_release_fakes import fake_aws as fake_aws

WEB_RECORD = parameter_name("three-tier", "prod", "web")
API_RECORD = parameter_name("three-tier", "prod", "api")


class Runner:
    """Stands in for ``npx cdk deploy``: keeps the command line, answers ``code``."""

    def __init__(self, code: int = 0) -> None:
        self.code = code
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> int:
        self.calls.append(list(argv))
        return self.code


def recorded(account: ReleaseAccount, name: str, *releases: str) -> None:
    for release in releases:
        record_release(account.clients["ssm"], name, release, account.clock.now())


def record(account: ReleaseAccount, name: str) -> tuple[str, str | None]:
    found = read_record(account.clients["ssm"], name)
    assert found is not None
    return found.current, found.previous


# --- web ----------------------------------------------------------------------------------------


def test_web_rollback_deploys_the_previous_tag_through_cloudformation_then_verifies(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded(account, WEB_RECORD, OLD_IMAGE, NEW_IMAGE)
    account.web_stack()
    account.ecs_deployment("SUCCESSFUL", images=(NEW_IMAGE, OLD_IMAGE))
    runner = Runner()
    code, out, err = account.run(capsys, "rollback", "prod", "web", runner=runner)
    assert (code, err) == (0, "")
    assert runner.calls == [
        [
            "npx",
            "--no-install",
            "cdk",
            "deploy",
            "--context",
            "env=prod",
            "--context",
            "web_image_tag=aaa111",
            "--exclusively",
            "prod/Web",
            "--require-approval",
            "never",
        ]
    ]
    assert "web: shifted" in out
    # Verify recorded the way back: the release left is now the previous one.
    assert record(account, WEB_RECORD) == (OLD_IMAGE, NEW_IMAGE)


def test_a_failed_web_rollback_deploy_is_explained_and_exits_1(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded(account, WEB_RECORD, OLD_IMAGE, NEW_IMAGE)
    runner = Runner(code=1)
    code, out, _ = account.run(capsys, "rollback", "prod", "web", runner=runner)
    assert code == 1
    assert len(runner.calls) == 1
    assert "no release rolled back: the stack update failed for another reason" in out
    assert record(account, WEB_RECORD) == (NEW_IMAGE, OLD_IMAGE)  # unchanged


@pytest.mark.parametrize("releases", [(), (NEW_IMAGE,)], ids=["no record", "no previous"])
def test_web_rollback_without_a_previous_release_is_refused(
    releases: tuple[str, ...], account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded(account, WEB_RECORD, *releases)
    runner = Runner()
    code, out, err = account.run(capsys, "rollback", "prod", "web", runner=runner)
    assert (code, out, runner.calls) == (1, "", [])
    assert err == (
        f"web: no previous web release recorded in {WEB_RECORD}: nothing to roll back to "
        "(verify records a release after it succeeds)\n"
    )


@pytest.mark.parametrize(
    "previous",
    [
        "public.ecr.aws/docker/library/nginx:1.27",  # the first deploy's placeholder
        f"{REGISTRY}/three-tier/staging/web:aaa111",  # another environment's repository
        f"{REGISTRY}/three-tier/prod/web@sha256:{'0' * 64}",  # no tag to deploy
        f"{REGISTRY}/three-tier/prod/web:-bad",
    ],
)
def test_web_rollback_to_an_image_outside_the_repository_is_refused(
    previous: str, account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded(account, WEB_RECORD, previous, NEW_IMAGE)
    runner = Runner()
    code, _, err = account.run(capsys, "rollback", "prod", "web", runner=runner)
    assert (code, runner.calls) == (1, [])
    assert err.count("\n") == 1
    assert err.startswith(f"web: the previous web image {previous} is not a tagged image of ")


def test_web_rollback_on_app_runner_is_refused(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = CONFIG.environment("dev")
    app_runner = replace(dev, web=replace(dev.web, runtime=WebRuntime.APP_RUNNER, spot=False))
    config: AppConfig = replace(
        CONFIG,
        environments=tuple(app_runner if e.name == "dev" else e for e in CONFIG.environments),
    )
    runner = Runner()
    code, _, err = account.run(capsys, "rollback", "dev", "web", config=config, runner=runner)
    assert (code, runner.calls) == (1, [])
    assert err.startswith("web: dev's web runs on app_runner:")


# --- api ----------------------------------------------------------------------------------------


def api_released(account: ReleaseAccount, *, hook: bool = True) -> None:
    """Version 2 released (1 -> 2) by CloudFormation's deployment and recorded."""
    account.api_stack("2")
    account.function(versions=2, alias_on="2")
    account.group()
    account.deployment("1", "2", "Succeeded", hook=hook)
    recorded(account, API_RECORD, "1", "2")


def created_by_rollback() -> Any:
    (deployment,) = [
        deployment
        for deployment in codedeploy_backends[ACCOUNT][REGION].deployments.values()
        if (deployment.description or "").startswith("make rollback")
    ]
    return deployment


def codedeploy_moves_the_alias(account: ReleaseAccount, status: str = "Succeeded") -> None:
    """While the tooling waits, CodeDeploy runs the rollback's deployment."""

    def run() -> None:
        deployment = created_by_rollback()
        set_status(deployment.deployment_id, status)
        if status == "Succeeded":
            account.move_alias("1")

    account.clock.on_sleep = run


def test_api_rollback_moves_the_alias_back_with_codedeploy_and_records(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    api_released(account)
    codedeploy_moves_the_alias(account)
    code, out, err = account.run(capsys, "rollback", "prod", "api")
    assert (code, err) == (0, "")
    deployment = created_by_rollback()
    assert deployment.deployment_config_name == ALL_AT_ONCE
    assert deployment.revision["revisionType"] == "AppSpecContent"
    assert json.loads(deployment.revision["appSpecContent"]["content"]) == {
        "version": 0.0,
        "Resources": [
            {
                "ApiFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": FUNCTION,
                        "Alias": "live",
                        "CurrentVersion": "2",
                        "TargetVersion": "1",
                    },
                }
            }
        ],
        # The pre-traffic hook of the group's last deployment still checks the version.
        "Hooks": [{"BeforeAllowTraffic": HOOK}],
    }
    assert deployment.override_alarm_configuration == {"enabled": False, "alarms": []}
    assert (
        account.clients["lambda"].get_alias(FunctionName=FUNCTION, Name="live")["FunctionVersion"]
        == "1"
    )
    assert record(account, API_RECORD) == ("1", "2")
    assert out.splitlines()[-1] == f"api: alias live on version 1; recorded in {API_RECORD}"


def test_api_rollback_without_a_hook_in_the_last_deployment_adds_none(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    api_released(account, hook=False)
    codedeploy_moves_the_alias(account)
    code, _, _ = account.run(capsys, "rollback", "prod", "api")
    assert code == 0
    assert "Hooks" not in json.loads(created_by_rollback().revision["appSpecContent"]["content"])


def test_a_failed_api_rollback_exits_1_and_records_nothing(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    api_released(account)
    codedeploy_moves_the_alias(account, status="Failed")
    code, _, err = account.run(capsys, "rollback", "prod", "api")
    assert code == 1
    assert err.startswith("api rollback failed: ")
    assert err.count("\n") == 1
    assert record(account, API_RECORD) == ("2", "1")


def test_api_rollback_when_the_alias_is_there_already_does_nothing(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    api_released(account)
    account.move_alias("1")
    code, out, _ = account.run(capsys, "rollback", "prod", "api")
    assert (code, out) == (0, "api: alias live is on version 1 already\n")
    assert not [
        d
        for d in codedeploy_backends[ACCOUNT][REGION].deployments.values()
        if (d.description or "").startswith("make rollback")
    ]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("rollback", "prod", "db"), "unknown tier 'db': web or api\n"),
        (("rollback", "prod"), "usage: python -m release verify ENV | explain ENV | "),
        (("deploy", "prod"), "usage: python -m release verify ENV | explain ENV | "),
        (("verify", "qa"), "config error: environment 'qa', field 'env (-c env=...)'"),
        (("rollback", "qa", "web"), "config error: environment 'qa', field 'env (-c env=...)'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: tuple[str, ...],
    message: str,
    account: ReleaseAccount,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = account.run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(message)
    assert err.count("\n") == 1
