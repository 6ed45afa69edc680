"""The GitHub workflows agree with config, ask for the least they need, and never cancel a
deploy; the delivery helpers they call; the pre-commit hooks."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdk_constructs.options import Image, WebRuntime
from stacks import delivery
from stacks.config import (
    APP_CONFIG,
    AppConfig,
    ConfigError,
    EnvironmentConfig,
    WebConfig,
    stack_name,
)
from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
REAL_ACCOUNT = "123456789012"
REAL_ZONE = "acme-platform.dev"


def load(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return {str(key): value for key, value in loaded.items()}


def steps_running(job: dict[str, Any], text: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if text in step.get("run", "")]


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = [step for step in job["steps"] if step.get("uses", "").startswith(f"{action}@")]
    return dict(step)


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
        return replace(env.web, **{**domain, **web})

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


# --- deploy.yml ---------------------------------------------------------------------------------


def test_deploy_triggers_and_environments_are_the_configs() -> None:
    on = load("deploy.yml")["on"]
    assert on["push"]["branches"] == [env.branch for env in APP_CONFIG.environments]
    assert set(on) == {"push", "workflow_dispatch"}
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "choice"
    assert inputs["environment"]["options"] == list(APP_CONFIG.environment_names)
    assert {f"{image}_image_tag" for image in Image} <= set(inputs)


def test_deploy_job_runs_in_the_environment_with_least_permissions() -> None:
    workflow = load("deploy.yml")
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["resolve"]["permissions"] == {"contents": "read"}
    job = jobs["deploy"]
    assert job["needs"] == "resolve"
    environment = "${{ needs.resolve.outputs.environment }}"
    assert job["environment"] == environment
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    assert job["concurrency"] == {"group": f"deploy-{environment}", "cancel-in-progress": False}
    # The branch -> environment mapping comes from config, not from the workflow.
    (resolve,) = steps_running(jobs["resolve"], "stacks.delivery environment-for-branch")
    assert '"$BRANCH"' in resolve["run"]


def test_deploy_steps_in_order() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    runs = [step.get("run", step.get("uses", "")) for step in job["steps"]]

    def index(text: str) -> int:
        matches = [i for i, run in enumerate(runs) if text in run]
        assert matches, text
        return matches[0]

    order = [
        index("make test"),
        index("make synth"),
        index("aws-actions/configure-aws-credentials@"),
        index("--exclusively"),  # the network tier: the repositories exist before a push
        index("docker buildx build --platform"),
        index('"$ENVIRONMENT/*"'),
        index("aws apprunner start-deployment"),
        index("curl"),
    ]
    assert order == sorted(order)
    credentials = step_using(job, "aws-actions/configure-aws-credentials")["with"]
    assert credentials["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert credentials["role-duration-seconds"] == "${{ steps.plan.outputs.role_session_seconds }}"
    (deploy,) = steps_running(job, '"$ENVIRONMENT/*"')
    assert "--context web_image_tag=" in deploy["run"]
    assert "--context api_image_tag=" in deploy["run"]
    assert "--require-approval never" in deploy["run"]
    (app_runner,) = steps_running(job, "aws apprunner start-deployment")
    assert app_runner["if"] == "steps.plan.outputs.runtime == 'app_runner'"
    assert str(WebRuntime.APP_RUNNER) == "app_runner"
    (build,) = steps_running(job, "docker buildx build")
    assert build["env"]["TAG"] == "${{ github.sha }}"


def test_preflight_runs_after_the_role_and_before_every_cdk_deploy() -> None:
    job = load("deploy.yml")["jobs"]["deploy"]
    steps = job["steps"]
    (preflight,) = [i for i, step in enumerate(steps) if "make preflight" in step.get("run", "")]
    assert steps[preflight]["run"] == 'make preflight ENV="$ENVIRONMENT" PREFLIGHT_FLAGS=--ci'
    credentials = steps.index(step_using(job, "aws-actions/configure-aws-credentials"))
    deploys = [i for i, step in enumerate(steps) if "cdk deploy" in step.get("run", "")]
    assert len(deploys) >= 2  # the network tier, then the environment
    assert credentials < preflight < min(deploys)
    assert "if" not in steps[preflight]  # never skipped


def test_node_22_and_python_from_the_project_with_caches() -> None:
    for name in ("ci.yml", "deploy.yml"):
        for job_name, job in load(name)["jobs"].items():
            if "make" not in str(job["steps"]):
                continue
            node = step_using(job, "actions/setup-node")["with"]
            assert (node["node-version"], node["cache"]) == (22, "npm"), (name, job_name)
            python = step_using(job, "actions/setup-python")["with"]
            assert python["python-version-file"] == ".python-version"
            assert python["cache"] == "pip"
    assert (REPO_ROOT / ".python-version").read_text().strip() == "3.11"


# --- ci.yml -------------------------------------------------------------------------------------


def test_ci_tests_synths_and_uploads_on_every_change() -> None:
    workflow = load("ci.yml")
    assert set(workflow["on"]) == {"pull_request", "push"}
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"] == {
        "group": "ci-${{ github.ref }}",
        "cancel-in-progress": True,
    }
    job = workflow["jobs"]["test"]
    assert [step["run"] for step in job["steps"] if "run" in step] == ["make test", "make synth"]
    upload = step_using(job, "actions/upload-artifact")["with"]
    assert upload["path"] == "cdk.out"


def test_ci_diffs_the_environment_a_pull_request_targets() -> None:
    jobs = load("ci.yml")["jobs"]
    target = jobs["diff-target"]
    assert target["if"] == "github.event_name == 'pull_request'"
    (resolve,) = steps_running(target, "stacks.delivery environment-for-branch")
    assert resolve["env"]["BASE_REF"] == "${{ github.base_ref }}"
    diff = jobs["diff"]
    assert diff["environment"] == "${{ needs.diff-target.outputs.environment }}"
    assert diff["permissions"] == {"contents": "read", "id-token": "write"}
    assert "head.repo.full_name == github.repository" in diff["if"]
    (run_diff,) = steps_running(diff, "make diff")
    assert run_diff["if"] == "steps.role.outputs.configured == 'true'"
    assert "GITHUB_STEP_SUMMARY" in run_diff["run"]
    (role_check,) = steps_running(diff, 'configured=true"')
    assert role_check["env"]["ROLE_ARN"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"


def test_actionlint_finds_nothing() -> None:
    actionlint = Path(sys.executable).with_name("actionlint")
    result = subprocess.run(
        [str(actionlint), "-no-color"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "")


# --- delivery helpers ---------------------------------------------------------------------------


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
    config = real_config(runtime=WebRuntime.APP_RUNNER, spot=False)
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
    web_outputs = {"PublicUrl": "http://alb.example", "ServiceId": "arn:svc"}
    outputs.write_text(json.dumps({stack_name(APP_CONFIG, env, "web"): web_outputs}))
    code, out, _ = run_delivery(capsys, "web-outputs", "staging", str(outputs), config=APP_CONFIG)
    assert code == 0
    assert out.splitlines() == [
        "public_url=http://alb.example",
        f"health_url=http://alb.example{env.web.health_path}",
        "service_id=arn:svc",
    ]


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


# --- pre-commit ---------------------------------------------------------------------------------


def test_pre_commit_hooks_are_local_and_installed() -> None:
    config_file = REPO_ROOT / ".pre-commit-config.yaml"
    pre_commit = Path(sys.executable).with_name("pre-commit")
    result = subprocess.run(
        [str(pre_commit), "validate-config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (repo,) = yaml.safe_load(config_file.read_text())["repos"]
    assert repo["repo"] == "local"
    hooks = {hook["id"]: hook for hook in repo["hooks"]}
    assert set(hooks) >= {
        "ruff",
        "ruff-format",
        "mypy",
        "actionlint",
        "check-yaml",
        "check-json",
        "trailing-whitespace",
        "end-of-file-fixer",
    }
    for hook in hooks.values():
        assert hook["language"] == "system"
        executable = REPO_ROOT / hook["entry"].split()[0]
        assert executable.is_file(), hook["entry"]
