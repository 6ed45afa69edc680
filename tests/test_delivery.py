"""The delivery helpers the workflows and ``make bootstrap`` call (``python -m stacks.delivery``):
the environment of a branch, the deploy plan, the bootstrap target, the web stack's outputs
(the rollout included), and the image tags the deploy workflow passes as context."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cdk_constructs.options import Image, WebRuntime
from cdk_constructs.web_runtime.rollout import Rollout
from stacks import delivery
from stacks.config import APP_CONFIG, AppConfig, ConfigError, EnvironmentConfig, stack_name
from stacks.config.sections import WebConfig, WebReleaseConfig
from tests.test_workflows import load

REAL_ACCOUNT = "123456789012"
REAL_ZONE = "acme-platform.dev"


def real_config(**web: Any) -> AppConfig:
    """The shipped config with real-looking values for every placeholder (placeholders can't
    deploy: stacks.config.find_placeholder): account, repository, e-mail, domain and zone."""

    def real_web(env: EnvironmentConfig) -> WebConfig:
        domain: dict[str, str] = {}
        if env.web.domain_name is not None:
            domain = {
                "domain_name": f"www.{REAL_ZONE}",
                "hosted_zone_id": "Z04517272K5GTIXMX3VQX",
                "hosted_zone_name": REAL_ZONE,
            }
        # The changes are container runtimes' (the spa environment's static site keeps its own).
        return replace(env.web, **{**domain, **(web if env.web.runtime != "static_site" else {})})

    return replace(
        APP_CONFIG,
        github=replace(APP_CONFIG.github, repository="acme-platform/serverless-three-tier"),
        environments=tuple(
            replace(
                env,
                account=REAL_ACCOUNT,
                alert_email=f"alerts-{env.name}@{REAL_ZONE}",
                web=real_web(env),
            )
            for env in APP_CONFIG.environments
        ),
    )


def run_delivery(capsys: pytest.CaptureFixture[str], *argv: str, config: AppConfig) -> Any:
    code = delivery.main(list(argv), config)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_branch_resolves_to_its_environment(
    env_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    branch = APP_CONFIG.environment(env_name).branch
    assert run_delivery(capsys, "environment-for-branch", branch, config=APP_CONFIG) == (
        0,
        f"environment={env_name}\n",
        "",
    )


def test_other_branches_deploy_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_delivery(capsys, "environment-for-branch", "feature/x", config=APP_CONFIG)
    assert result == (0, "environment=\n", "")


def test_plan_refuses_a_placeholder_account_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_delivery(capsys, "plan", "dev", config=APP_CONFIG)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert "environment 'dev', field 'account'" in err


def test_plan_of_a_real_environment(tmp_path: Path) -> None:
    config = real_config()
    env = config.environment("prod")
    plan = delivery.deploy_plan(config, env, root=tmp_path)
    assert plan["environment"] == "prod"
    assert plan["region"] == env.region
    assert plan["role_session_seconds"] == str(config.github.deploy_session_hours * 3600)
    assert plan["web_source"] == ""  # no web_app/Dockerfile in this checkout
    (tmp_path / "web_app").mkdir()
    (tmp_path / "web_app" / "Dockerfile").write_text("FROM scratch\n")
    plan = delivery.deploy_plan(config, env, root=tmp_path)
    assert plan["web_source"] == "web_app"
    assert plan["api_source"] == ""  # not configured: the API deploys from its zip
    assert plan["web_repository"] == "three-tier/prod/web"
    assert (plan["web_platform"], plan["api_platform"]) == ("linux/arm64", "linux/arm64")
    assert plan["runtime"] == "fargate"


def test_app_runner_images_are_built_for_x86(tmp_path: Path) -> None:
    no_domain = {"domain_name": None, "hosted_zone_id": None, "hosted_zone_name": None}
    config = real_config(
        runtime=WebRuntime.APP_RUNNER, spot=False, release=WebReleaseConfig(), **no_domain
    )
    plan = delivery.deploy_plan(config, config.environment("dev"), root=tmp_path)
    assert (plan["runtime"], plan["web_platform"]) == ("app_runner", "linux/amd64")


# https://docs.aws.amazon.com/AmazonECS/latest/userguide/fargate-capacity-providers.html
# "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider.
# Fargate Spot only supports Linux tasks with the X86_64 architecture."
def test_fargate_spot_images_are_built_for_x86(capsys: pytest.CaptureFixture[str]) -> None:
    config = real_config()
    assert config.environment("dev").web.spot
    code, out, _ = run_delivery(capsys, "plan", "dev", config=config)
    assert code == 0
    plan = dict(line.split("=", 1) for line in out.splitlines())
    assert (plan["runtime"], plan["web_platform"]) == ("fargate", "linux/amd64")
    assert plan["api_platform"] == "linux/arm64"
    on_demand = real_config(spot=False)
    assert delivery.deploy_plan(on_demand, on_demand.environment("dev"))["web_platform"] == (
        "linux/arm64"
    )


def test_bootstrap_target_and_oidc_stage(capsys: pytest.CaptureFixture[str]) -> None:
    config = real_config()
    assert run_delivery(capsys, "bootstrap-target", "staging", config=config) == (
        0,
        f"aws://{REAL_ACCOUNT}/us-east-1\n",
        "",
    )
    assert run_delivery(capsys, "oidc-stage", "staging", config=config) == (
        0,
        f"github-{REAL_ACCOUNT}\n",
        "",
    )


def test_web_outputs_for_the_smoke_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = APP_CONFIG.environment("staging")
    outputs = tmp_path / "outputs.json"
    web_outputs = {
        "PublicUrl": "http://alb.example",
        "ServiceId": "arn:svc",
        "Rollout": str(Rollout.CLOUDFORMATION),
    }
    outputs.write_text(json.dumps({stack_name(APP_CONFIG, env, "web"): web_outputs}))
    code, out, _ = run_delivery(capsys, "web-outputs", "staging", str(outputs), config=APP_CONFIG)
    assert code == 0
    assert out.splitlines() == [
        "public_url=http://alb.example",
        f"health_url=http://alb.example{env.web.health_path}",
        "service_id=arn:svc",
        "rollout=cloudformation",
    ]


@pytest.mark.parametrize("rollout", list(Rollout))
def test_web_outputs_name_the_rollout_the_workflow_runs(
    rollout: Rollout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``rollout=<value>`` goes to $GITHUB_ENV; the deploy workflow's rollout steps key on it."""
    env = APP_CONFIG.environment("dev")
    outputs = tmp_path / "outputs.json"
    web = {"PublicUrl": "https://x", "ServiceId": "arn:svc", "Rollout": str(rollout)}
    outputs.write_text(json.dumps({stack_name(APP_CONFIG, env, "web"): web}))
    code, out, _ = run_delivery(capsys, "web-outputs", "dev", str(outputs), config=APP_CONFIG)
    assert code == 0
    assert out.splitlines()[-1] == f"rollout={rollout}"
    steps = load("deploy.yml")["jobs"]["deploy"]["steps"]
    keyed = [step for step in steps if f"env.rollout == '{rollout}'" in str(step.get("if", ""))]
    assert keyed or rollout is Rollout.CLOUDFORMATION  # the stack update itself rolls out


def test_web_outputs_without_the_rollout_output_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = APP_CONFIG.environment("dev")
    outputs = tmp_path / "outputs.json"
    web = {"PublicUrl": "https://x", "ServiceId": "arn:svc"}
    outputs.write_text(json.dumps({stack_name(APP_CONFIG, env, "web"): web}))
    code, out, err = run_delivery(capsys, "web-outputs", "dev", str(outputs), config=APP_CONFIG)
    assert (code, out) == (1, "")
    assert err == f"{outputs} has no 'Rollout' of dev's web stack\n"


def test_unknown_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_delivery(capsys, "deploy", config=APP_CONFIG)
    assert (code, out) == (2, "")
    assert err.startswith("usage:")


# --- image tags passed as context ---------------------------------------------------------------


def test_image_tags_override_only_the_environment_being_deployed() -> None:
    config = APP_CONFIG.with_image_tags("staging", {Image.WEB: "abc123", Image.API: None})
    assert config.environment("staging").web.image_tag == "abc123"
    assert config.environment("staging").api.image_tag is None
    assert config.environment("dev").web.image_tag is None
    assert APP_CONFIG.with_image_tags(None, {Image.WEB: None, Image.API: ""}) is APP_CONFIG


def test_an_image_tag_without_an_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs the environment"):
        APP_CONFIG.with_image_tags(None, {Image.WEB: "abc123"})
