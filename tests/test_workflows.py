"""The GitHub workflows agree with config, ask for the least they need, install the config's
pins where they ask it first, and never cancel a deploy; a deploy verifies its releases before
the smoke test and explains a failed one; their supply chain (actions pinned to commits,
Dependabot, zizmor); the pre-commit hooks. The delivery helpers they call:
``test_delivery.py``; the release tooling: ``test_release_*.py``."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdk_constructs.options import Image, WebRuntime
from cdk_constructs.vpc_function import PYTHON_RUNTIME
from cdk_constructs.web_runtime.rollout import Rollout
from release import __main__ as release_main
from release.contract import ApiRelease, WebRelease
from release.outcome import api_wait_minutes, web_wait_minutes
from stacks.config import APP_CONFIG, EnvironmentConfig
from tests.conftest import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"


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
        index("-m release verify"),
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
    # The web stack's Rollout output, which web-outputs writes to $GITHUB_ENV.
    assert app_runner["if"] == f"env.rollout == '{Rollout.APP_RUNNER_START_DEPLOYMENT}'"
    assert str(WebRuntime.APP_RUNNER) == "app_runner"
    (build,) = steps_running(job, "docker buildx build")
    assert build["env"]["TAG"] == "${{ github.sha }}"


def test_a_failed_deploy_names_the_release_that_rolled_back_then_fails() -> None:
    """``cdk deploy`` failing runs ``release explain`` (which exits 0) and then exits 1; the
    web outputs are read only after a deploy that succeeded."""
    job = load("deploy.yml")["jobs"]["deploy"]
    (deploy,) = steps_running(job, '"$ENVIRONMENT/*"')
    run = deploy["run"]
    guarded = run.index('if ! npx --no-install cdk deploy "${context[@]}" "$ENVIRONMENT/*"')
    explain = run.index('.venv/bin/python -m release explain "$ENVIRONMENT"\n')
    fail = run.index("exit 1\n", explain)
    outputs = run.index("-m stacks.delivery web-outputs")
    assert guarded < explain < fail < run.index("fi\n", fail) < outputs


def test_releases_are_verified_before_the_smoke_test() -> None:
    """The smoke test runs once traffic has fully shifted (verify waited for the releases to
    end), never after a release that rolled back (verify failed the job)."""
    steps = load("deploy.yml")["jobs"]["deploy"]["steps"]
    runs = [step.get("run", "") for step in steps]
    (verify,) = [i for i, run in enumerate(runs) if "-m release verify" in run]
    assert steps[verify]["run"] == '.venv/bin/python -m release verify "$ENVIRONMENT"'
    assert "if" not in steps[verify]  # App Runner too: its tier shows in the summary
    assert "continue-on-error" not in steps[verify]
    (deploy,) = [i for i, run in enumerate(runs) if '"$ENVIRONMENT/*"' in run]
    (app_runner,) = [i for i, run in enumerate(runs) if "aws apprunner start-deployment" in run]
    (smoke,) = [i for i, run in enumerate(runs) if "curl" in run]
    assert deploy < app_runner < verify < smoke
    assert "if" not in steps[smoke]


def test_verify_and_explain_write_the_job_summary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No step redirects them: they append to $GITHUB_STEP_SUMMARY themselves."""
    steps = load("deploy.yml")["jobs"]["deploy"]["steps"]
    for step in steps:
        for line in step.get("run", "").splitlines():
            if "-m release " in line:
                assert ">" not in line, line
        assert "GITHUB_STEP_SUMMARY" not in step.get("env", {})
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    tools = release_main.default_tools(APP_CONFIG.environment("dev"))
    assert tools.summary_path == tmp_path / "summary.md"


DEPLOY_MINUTES = 90
"""What the deploy job spends outside the releases, at most: make test and synth, preflight,
the image builds, and a first deploy creating the Aurora cluster and its proxy."""


def test_the_job_timeout_covers_the_longest_release() -> None:
    """verify waits up to each tier's steps, bake and margin (release.outcome); the job's
    timeout, and the deploy role's session, must outlast that on top of the deploy."""
    job = load("deploy.yml")["jobs"]["deploy"]
    longest = max(
        web_wait_minutes(web_release_of(env)) + api_wait_minutes(api_release_of(env))
        for env in APP_CONFIG.environments
    )
    prod = APP_CONFIG.environment("prod")  # blue/green, 15 min bake; API canary, 10 min
    assert longest == web_wait_minutes(web_release_of(prod)) + api_wait_minutes(
        api_release_of(prod)
    )
    assert longest >= 15 + 10
    assert job["timeout-minutes"] >= DEPLOY_MINUTES + longest
    assert APP_CONFIG.github.deploy_session_hours * 60 >= job["timeout-minutes"]


def web_release_of(env: EnvironmentConfig) -> WebRelease:
    release = env.web.release
    return WebRelease(
        runtime=str(env.web.runtime),
        strategy=str(release.strategy),
        step_percent=release.step_percent,
        step_bake_minutes=release.step_bake_minutes,
        bake_minutes=release.bake_minutes,
        alarms=(),
    )


def api_release_of(env: EnvironmentConfig) -> ApiRelease:
    release = env.api.release
    return ApiRelease(
        strategy=str(release.strategy),
        percent=release.percent,
        interval_minutes=release.interval_minutes,
        alarms=(),
        application="",
        deployment_group="",
        alias="live",
    )


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
            (python,) = [
                step["with"]
                for step in job["steps"]
                if step.get("uses", "").startswith("actions/setup-python@")
                and "python-version-file" in step["with"]
            ]
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


# --- the config's own requirements, where a job asks stacks.delivery first --------------------


def test_the_resolve_job_installs_the_config_pins_before_asking_delivery() -> None:
    """The resolve job runs before anything else is installed: stacks.delivery reads the
    config, which needs Pydantic; the job installs the config's pins alone."""
    steps = load("deploy.yml")["jobs"]["resolve"]["steps"]
    runs = [step.get("run", "") for step in steps]
    (install,) = [i for i, run in enumerate(runs) if "pip install" in run]
    (resolve,) = [i for i, run in enumerate(runs) if "stacks.delivery" in run]
    assert install < resolve
    assert runs[install].endswith("-r requirements-config.txt")
    python = step_using({"steps": steps}, "actions/setup-python")["with"]
    assert python["cache-dependency-path"] == "requirements-config.txt"


def test_the_deploy_job_asks_delivery_with_the_venv_make_set_up() -> None:
    """After ``make test``, the deploy job's python is .venv's (with the config's pins)."""
    job = load("deploy.yml")["jobs"]["deploy"]
    for step in steps_running(job, "-m stacks.delivery"):
        assert all(
            line.strip().startswith(".venv/bin/python -m stacks.delivery")
            for line in step["run"].splitlines()
            if "-m stacks.delivery" in line
        ), step["name"]


def test_the_config_pins_are_in_one_file() -> None:
    """Pydantic and its dependencies are pinned in requirements-config.txt only; the app's
    requirements (and through them the dev ones) include it."""
    pins = {
        line.split("==")[0].lower()
        for line in (REPO_ROOT / "requirements-config.txt").read_text().splitlines()
        if "==" in line
    }
    assert pins >= {"pydantic", "pydantic-core", "annotated-types", "typing-extensions"}
    for name in ("requirements.txt", "requirements-dev.txt"):
        lines = (REPO_ROOT / name).read_text().splitlines()
        pinned = {line.split("==")[0].split("[")[0].lower() for line in lines if "==" in line}
        assert not pins & pinned, name
    assert "-r requirements-config.txt" in (REPO_ROOT / "requirements.txt").read_text()
    assert "-r requirements.txt" in (REPO_ROOT / "requirements-dev.txt").read_text()
    installed = {name: version(name) for name in pins}
    for line in (REPO_ROOT / "requirements-config.txt").read_text().splitlines():
        if "==" in line:
            name, pinned_version = line.split("==")
            assert installed[name.lower()] == pinned_version, name


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
        "zizmor",
        "check-yaml",
        "check-json",
        "trailing-whitespace",
        "end-of-file-fixer",
    }
    for hook in hooks.values():
        assert hook["language"] == "system"
        executable = REPO_ROOT / hook["entry"].split()[0]
        assert executable.is_file(), hook["entry"]


def test_the_deploy_job_has_the_lambda_runtimes_python_before_it_synthesizes() -> None:
    """The API zip carries bytecode only if the bundler finds ``python<runtime version>``; the
    deploy job installs that version before any step that synthesizes (make test, cdk deploy)."""
    runtime_version = PYTHON_RUNTIME.name.removeprefix("python")
    steps = load("deploy.yml")["jobs"]["deploy"]["steps"]
    installs = [
        index
        for index, step in enumerate(steps)
        if step.get("uses", "").startswith("actions/setup-python@")
        and str(step.get("with", {}).get("python-version")) == runtime_version
    ]
    first_synth = min(
        index
        for index, step in enumerate(steps)
        if "make test" in step.get("run", "") or "cdk deploy" in step.get("run", "")
    )
    assert installs, f"no setup-python step installs {runtime_version}"
    assert installs[0] < first_synth


def test_ci_checks_migrations_against_the_merge_base_of_a_pull_request() -> None:
    job = load("ci.yml")["jobs"]["migrations"]
    assert job["if"] == "github.event_name == 'pull_request'"
    checkout = step_using(job, "actions/checkout")["with"]
    assert checkout == {"fetch-depth": 0, "persist-credentials": False}
    (check,) = steps_running(job, "make check-migrations")
    assert check["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    assert 'git merge-base "origin/$BASE_REF" HEAD' in check["run"]
    assert 'make check-migrations BASE="$merge_base"' in check["run"]
    assert "${{" not in check["run"]  # no template injection
