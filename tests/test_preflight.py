"""make preflight: a ready account passing every check, the checks that stop it first (config,
credentials, read access), the numbers it relies on pinned to where they come from, and its
entry points. Each check failing: ``test_preflight_checks.py``. No CDK synth, no AWS."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import replace
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from botocore.credentials import CredentialResolver

from cdk_constructs.github_deploy_role import CDK_BOOTSTRAP_ROLES
from cdk_constructs.options import NatMode, WebRuntime
from preflight.__main__ import main, selected
from preflight.capacity import nat_gateways_per_zone
from preflight.checks import BOOTSTRAP_VERSION, bootstrap_settings
from stacks.config import APP_CONFIG, cognito_domain_prefix, deploy_role_name
from stacks.config.sections import WebReleaseConfig
from tests.config_helpers import run_python
from tests.conftest import REPO_ROOT
from tests.preflight_helpers import (
    ACCOUNT,
    FakeAccount,
    line_of,
    moved,
    names,
    ready,
    with_web,
)
from tests.preflight_helpers import account_fixture as account_fixture  # fixtures
from tests.preflight_helpers import fake_aws as fake_aws
from tests.synth import Synthesized

# --- a ready account ----------------------------------------------------------------------------


@pytest.mark.parametrize("ci", [False, True], ids=["laptop", "workflow"])
@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_a_ready_account_passes_every_check(
    env_name: str, ci: bool, account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, env_name)
    env = config.environment(env_name)
    if ci:
        account.session.client("iam").create_role(
            RoleName=deploy_role_name(config, env), AssumeRolePolicyDocument="{}"
        )
    code, lines = account.run(capsys, config, env_name, *(["--ci"] if ci else []))
    assert [line for line in lines if not line.startswith("PASS ")] == []
    assert code == 0
    gates = ["config", "credentials", *(["read-access"] if ci else [])]
    assert names(lines) == gates + [name for name, _ in selected(env, ci=ci)]
    assert ("hosted-zone" in names(lines)) == (env.web.domain_name is not None)
    if ci:
        lookup_role = f"cdk-hnb659fds-lookup-role-{ACCOUNT}-{env.region}"
        assert lookup_role in line_of(lines, "read-access")


def test_a_missing_deploy_role_fails_in_the_workflow(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(account, "staging")
    # No --ci: GITHUB_ACTIONS=true alone makes it a workflow run.
    code, lines = account.run(capsys, config, "staging", environ={"GITHUB_ACTIONS": "true"})
    assert code == 1
    assert "read-access" in names(lines)
    assert line_of(lines, "deploy-role").startswith(
        "FAIL deploy-role: role three-tier-staging-github-deploy does not exist in 123456789012; "
        "fix: make bootstrap ENV=staging"
    )


def test_app_runner_passes_where_the_account_may_use_it(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ready(
        account,
        "staging",
        web=with_web("staging", runtime=WebRuntime.APP_RUNNER, release=WebReleaseConfig()),
    )
    account.stubber("apprunner").add_response(
        "list_services", {"ServiceSummaryList": []}, {"MaxResults": 1}
    )
    code, lines = account.run(capsys, config, "staging")
    assert code == 0
    assert line_of(lines, "app-runner").startswith("PASS app-runner: App Runner answers in us-")


# --- failing fast -------------------------------------------------------------------------------


def test_a_placeholder_account_fails_before_any_aws_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def no_session(**_: Any) -> boto3.Session:
        raise AssertionError("no AWS session for an environment that cannot deploy")

    code = main(["dev"], APP_CONFIG, no_session, {})
    (line,) = capsys.readouterr().out.splitlines()
    assert code == 1
    assert line.startswith("FAIL config: config error: environment 'dev', field 'account': ")
    assert line.endswith(
        "; fix: edit stacks/config/environments.py (python -m stacks.config check re-checks it)"
    )


def test_no_credentials_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def without_credentials(**kwargs: Any) -> boto3.Session:
        core = botocore.session.get_session()
        core.register_component("credential_provider", CredentialResolver(providers=[]))
        return boto3.Session(botocore_session=core, **kwargs)

    code = main(["staging"], moved("staging"), without_credentials, {})
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[0] == "PASS config: 'staging' deploys to 123456789012/us-east-1"
    assert lines[1:] == [
        "FAIL credentials: no usable credentials (NoCredentialsError: Unable to locate "
        "credentials); fix: get credentials for account 123456789012 (aws sso login --profile "
        "P, then export AWS_PROFILE=P); in the workflow, run after 'Assume the deploy role'"
    ]


def test_credentials_of_another_account_are_refused(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    config = replace(
        moved("staging"),
        environments=(replace(moved("staging").environment("staging"), account="210987654321"),),
    )
    code, lines = account.run(capsys, config, "staging")
    assert code == 1
    assert lines[1].startswith(
        "FAIL credentials: arn:aws:sts::123456789012:user/moto is in account 123456789012, "
        "'staging' is in 210987654321; fix: get credentials for account 210987654321"
    )
    assert len(lines) == 2


def test_the_workflow_needs_the_lookup_role(
    account: FakeAccount, capsys: pytest.CaptureFixture[str]
) -> None:
    sts = account.stubber("sts")
    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/three-tier-staging-github-deploy/gh"
    sts.add_response(
        "get_caller_identity", {"Account": ACCOUNT, "Arn": caller, "UserId": "AROA:gh"}, {}
    )
    sts.add_client_error("assume_role", "AccessDenied", "not authorized to perform sts:AssumeRole")
    code, lines = account.run(capsys, moved("staging"), "staging", "--ci")
    assert code == 1
    assert names(lines) == ["config", "credentials", "read-access"]
    assert lines[-1] == (
        f"FAIL read-access: cannot assume arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-lookup-role-"
        f"{ACCOUNT}-us-east-1 (AWS error AccessDenied: not authorized to perform sts:AssumeRole); "
        "fix: make bootstrap ENV=staging from a laptop: the CDK bootstrap creates this read-only "
        "role, which the deploy role may assume"
    )


# --- what the checks rely on, pinned to where it comes from -------------------------------------


def test_the_bootstrap_version_is_the_pinned_clis() -> None:
    """The CLI in node_modules (package.json's pin) bootstraps this version: bump both together."""
    template_file = REPO_ROOT / "node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml"
    assert template_file.is_file(), "run make setup: the pinned CDK CLI is not installed"
    template = yaml.safe_load(template_file.read_text())
    assert int(template["Outputs"]["BootstrapVersion"]["Value"]) == BOOTSTRAP_VERSION
    assert int(template["Resources"]["CdkBootstrapVersion"]["Properties"]["Value"]) == (
        BOOTSTRAP_VERSION
    )
    assert template["Parameters"]["Qualifier"]["Default"] == "hnb659fds"
    assert bootstrap_settings() == ("hnb659fds", "CDKToolkit")  # what cdk.json sets today
    # --ci reads through the lookup role: read-only, and one the GitHub deploy role may assume.
    lookup_role = template["Resources"]["LookupRole"]["Properties"]
    assert lookup_role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}
    ]
    assert "lookup-role" in CDK_BOOTSTRAP_ROLES


def _resources(
    synthesized: Synthesized, tier: str, env_name: str, kind: str
) -> list[dict[str, Any]]:
    template = getattr(synthesized.envs[env_name], f"{tier}_json")
    return [r for r in template["Resources"].values() if r["Type"] == kind]


@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_the_cognito_prefix_is_the_one_the_api_stack_asks_for(
    synthesized: Synthesized, env_name: str
) -> None:
    (domain,) = _resources(synthesized, "api", env_name, "AWS::Cognito::UserPoolDomain")
    env = APP_CONFIG.environment(env_name)
    assert domain["Properties"]["Domain"] == cognito_domain_prefix(APP_CONFIG, env)


@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_nat_needs_are_what_the_network_tier_creates(
    synthesized: Synthesized, env_name: str
) -> None:
    env = APP_CONFIG.environment(env_name)
    gateways = len(_resources(synthesized, "network", env_name, "AWS::EC2::NatGateway"))
    addresses = len(_resources(synthesized, "network", env_name, "AWS::EC2::EIP"))
    assert sum(nat_gateways_per_zone(env).values()) == gateways == addresses
    expected = {NatMode.GATEWAY_PER_AZ: 2, NatMode.SINGLE_GATEWAY: 1, NatMode.INSTANCE: 0}
    assert gateways == expected[env.network.nat_mode]


# --- entry points -------------------------------------------------------------------------------


def test_python_m_preflight_prints_one_line_and_no_traceback() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = run_python("-m", "preflight", "dev", environ=environ)
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout.startswith("FAIL config: config error: environment 'dev', field 'account'")
    assert result.stdout.count("\n") == 1


def test_preflight_imports_no_cdk() -> None:
    code = "import sys, preflight.__main__; sys.exit('aws_cdk' in sys.modules)"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr


def test_make_deploy_runs_preflight_first() -> None:
    def dry_run(*args: str) -> list[str]:
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.splitlines()

    deploy = dry_run("deploy", "ENV=staging")

    def first(text: str) -> int:
        return next(i for i, line in enumerate(deploy) if text in line)

    deployable, preflight = first("stacks.config deployable staging"), first("-m preflight staging")
    assert deployable < preflight < first("cdk deploy")
    (ci_line,) = [
        line
        for line in dry_run("preflight", "ENV=prod", "PREFLIGHT_FLAGS=--ci")
        if "-m preflight" in line
    ]
    assert ci_line.endswith("-m preflight prod --ci")
    help_text = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert re.search(r"^  make preflight +Read-only account checks", help_text, re.MULTILINE)
