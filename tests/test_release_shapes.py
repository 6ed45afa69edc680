"""The release tooling on the S3M shape: nothing shifts traffic there, so verify takes the stack
update's outcome (never waiting on an ECS or CodeDeploy release that does not exist) and
rollback says what to deploy instead."""

from __future__ import annotations

import json

import pytest

from release.contract import RELEASE_OUTPUT, WebRelease, watches_ecs
from release.outcome import OK_STATES, State
from stacks.config import stack_name
from tests.test_release_fakes import CONFIG, ReleaseAccount
from tests.test_release_fakes import account_fixture as account_fixture
from tests.test_release_fakes import fake_aws as fake_aws

SPA = CONFIG.environment("spa")
SITE_RELEASE = WebRelease(
    runtime="static_site",
    strategy="rolling",
    step_percent=0,
    step_bake_minutes=0,
    bake_minutes=0,
    alarms=(),
)


def site_stack(account: ReleaseAccount) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            RELEASE_OUTPUT: {"Value": SITE_RELEASE.to_json()},
            "ServiceId": {"Value": "E2DISTRIBUTION"},
        },
    }
    account.clients["cloudformation"].create_stack(
        StackName=stack_name(CONFIG, SPA, "web"), TemplateBody=json.dumps(template)
    )


def test_a_static_site_is_no_ecs_service() -> None:
    assert not watches_ecs("static_site")
    assert watches_ecs("fargate")
    assert State.BY_STACK in OK_STATES


def test_verify_takes_the_stack_update_for_the_site_and_the_microservices(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    site_stack(account)  # no API stack at all: verify must not read it
    code, out, err = account.run(capsys, "verify", "spa")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "web: the stack update uploaded the site and invalidated CloudFront's cache" in lines
    assert any(line.startswith("api: the microservices roll with ECS") for line in lines)
    assert not any(call.startswith(("ecs:", "codedeploy:")) for call in account.calls)


@pytest.mark.parametrize(
    ("tier", "says"),
    [
        ("web", "web: spa's web is a static site: deploy the previous commit"),
        ("api", "api: spa's API is its microservices: deploy the previous commit's images"),
    ],
)
def test_rollback_says_what_to_deploy_instead(
    account: ReleaseAccount, capsys: pytest.CaptureFixture[str], tier: str, says: str
) -> None:
    calls: list[object] = []

    def runner(argv: object) -> int:
        calls.append(argv)
        return 0

    code, _, err = account.run(capsys, "rollback", "spa", tier, runner=runner)
    assert (code, calls) == (1, [])
    assert err.startswith(says)
    assert "\n" not in err.strip()
