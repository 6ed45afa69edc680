"""The github section, what a deploy refuses that validation accepts (the shipped placeholders),
and the entry points: ``app.py`` and ``python -m stacks.config`` print one line, never a
traceback, also for a bad value written in ``environments.py`` itself."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cdk_constructs.options import Image
from stacks import delivery
from stacks.config import (
    APP_CONFIG,
    EnvironmentConfig,
    check_deployable,
    validate_app_config,
)
from tests.config_helpers import (
    DEV,
    REAL_ACCOUNTS,
    assert_one_line,
    deploy_error,
    error_of,
    real_config,
    real_with,
    run_python,
    with_github,
)
from tests.conftest import REPO_ROOT

# --- github -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "repository", ["example-org", "org/repo/extra", "-org/repo", "org/re po", "org/"]
)
def test_github_repository_must_be_owner_slash_repo(repository: str) -> None:
    error = error_of(lambda: with_github(repository=repository))
    assert_one_line(error, "*", "github.repository", "OWNER/REPO")


def test_existing_oidc_provider_must_belong_to_its_account() -> None:
    other = "arn:aws:iam::999999999999:oidc-provider/token.actions.githubusercontent.com"
    error = error_of(lambda: with_github(existing_oidc_providers={DEV.account: other}))
    assert_one_line(error, "*", f"github.existing_oidc_providers['{DEV.account}']", "oidc-provider")
    mine = other.replace("999999999999", DEV.account)
    validate_app_config(with_github(existing_oidc_providers={DEV.account: mine}))
    unknown = error_of(lambda: with_github(existing_oidc_providers={"999999999999": other}))
    assert "for an account in" in str(unknown)


@pytest.mark.parametrize("source", ["../web", "/abs/web", "a/../../b"])
def test_image_source_must_be_a_folder_of_the_repository(source: str) -> None:
    error = error_of(lambda: with_github(image_sources={Image.WEB: source}))
    assert_one_line(error, "*", "github.image_sources['web']", "relative path")


@pytest.mark.parametrize("hours", [0, 13])
def test_deploy_session_hours_out_of_range(hours: int) -> None:
    error = error_of(lambda: with_github(deploy_session_hours=hours))
    assert_one_line(error, "*", "github.deploy_session_hours", "1..12")


# --- Placeholders: `check` accepts them, `deployable` refuses them --------------------------------


def test_deploy_refuses_placeholder_account() -> None:
    assert DEV.is_placeholder_account
    assert_one_line(deploy_error(APP_CONFIG, "dev"), "dev", "account", "real 12-digit")


def test_deploy_accepts_a_fully_real_config() -> None:
    """Real accounts, repository, e-mail, domain and zone: every environment may deploy."""
    config = real_config()
    for name in config.environment_names:
        env: EnvironmentConfig = check_deployable(config, name)
        assert env.account == REAL_ACCOUNTS[name]


def test_shipped_placeholders_pass_validation_but_not_deployable() -> None:
    validate_app_config(APP_CONFIG)  # synth and tests run on the shipped config
    for name in APP_CONFIG.environment_names:
        assert "placeholder" in str(deploy_error(APP_CONFIG, name))


@pytest.mark.parametrize(
    ("env_name", "changes", "field_name", "allowed_fragment"),
    [
        ("staging", {"account": "222222222222"}, "account", "real 12-digit"),
        ("dev", {"alert_email": "alerts-dev@example.com"}, "alert_email", "RFC 2606"),
        ("dev", {"alert_email": "ops@mail.example.org"}, "alert_email", "example.org"),
        ("dev", {"alert_email": "ops@team.example"}, "alert_email", ".example"),
        (
            "prod",
            {"web": {"domain_name": "www.example.com", "hosted_zone_name": "example.com"}},
            "web.domain_name",
            "example.com",
        ),
        (
            "prod",
            {"web": {"hosted_zone_id": "Z0123456789EXAMPLE0"}},
            "web.hosted_zone_id",
            "Route 53 hosted zone",
        ),
        (
            "prod",
            {"web": {"domain_name": "www.example.net", "hosted_zone_name": "example.net"}},
            "web.domain_name",
            "example.net",
        ),
    ],
)
def test_deployable_refuses_each_placeholder_in_one_line(
    env_name: str, changes: dict[str, Any], field_name: str, allowed_fragment: str
) -> None:
    config = real_with(env_name, **changes)
    validate_app_config(config)
    assert_one_line(deploy_error(config, env_name), env_name, field_name, allowed_fragment)


@pytest.mark.parametrize("env_name", APP_CONFIG.environment_names)
def test_each_shipped_environment_s_own_placeholders_are_refused(env_name: str) -> None:
    """Every shipped environment's account, e-mail, domain (with its zone's name) and zone id
    (``444444444444``, ``servers.example.com``, ``Z0123456789EXAMPLE2`` ...), each put back alone
    into the fully real config."""
    shipped = APP_CONFIG.environment(env_name)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"account": shipped.account}, "account"),
        ({"alert_email": shipped.alert_email}, "alert_email"),
    ]
    if shipped.web.domain_name is not None:
        domain = {
            "domain_name": shipped.web.domain_name,
            "hosted_zone_name": shipped.web.hosted_zone_name,
        }
        cases.append(({"web": domain}, "web.domain_name"))
    if shipped.web.hosted_zone_id is not None:
        cases.append(
            ({"web": {"hosted_zone_id": shipped.web.hosted_zone_id}}, "web.hosted_zone_id")
        )
    for changes, field_name in cases:
        config = real_with(env_name, **changes)
        validate_app_config(config)
        assert_one_line(deploy_error(config, env_name), env_name, field_name)


def test_deployable_refuses_a_placeholder_zone_name() -> None:
    """A zone still named after the example, here on an environment without a domain."""
    config = real_with(
        "prod",
        web={"domain_name": None, "hosted_zone_name": "example.com", "allow_plain_http": True},
    )
    validate_app_config(config)
    assert_one_line(deploy_error(config, "prod"), "prod", "web.hosted_zone_name", "RFC 2606")


def test_deployable_refuses_the_shipped_github_repository() -> None:
    config = replace(
        real_config(), github=replace(APP_CONFIG.github, repository=APP_CONFIG.github.repository)
    )
    assert_one_line(deploy_error(config, "dev"), "dev", "github.repository", "OWNER/REPO")


def test_both_deploy_paths_ask_deployable(capsys: pytest.CaptureFixture[str]) -> None:
    """``make deploy`` (require_env: ``python -m stacks.config deployable``) and the deploy
    workflow (``python -m stacks.delivery plan``) refuse a placeholder domain in one line."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "@$(PY) -m stacks.config deployable $(ENV)" in makefile
    for target in ("deploy", "diff", "bootstrap"):
        recipe = makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
        assert "$(require_env)" in recipe, target
    config = real_with(
        "prod", web={"domain_name": "www.example.com", "hosted_zone_name": "example.com"}
    )
    assert delivery.main(["plan", "prod"], config) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "environment 'prod', field 'web.domain_name'" in captured.err


# --- entry points: one line on stderr, exit 1, no traceback ------------------------------------


def test_config_command_refuses_placeholder_in_one_line() -> None:
    result = run_python("-m", "stacks.config", "deployable", "staging")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]]
    assert lines[0].startswith("config error: environment 'staging', field 'account': ")


BAD_CONTEXTS = {"unknown env": {"env": "qa"}, "tag without env": {"web_image_tag": "abc123"}}
"""``-c`` contexts ``app.py`` must refuse in one line."""


@pytest.fixture(scope="module")
def app_runs() -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """``app.py`` with each of ``BAD_CONTEXTS``, all started at once: each run spends seconds
    importing aws-cdk-lib and starting jsii, on a core of its own."""
    with ThreadPoolExecutor(max_workers=len(BAD_CONTEXTS)) as pool:
        yield {
            name: pool.submit(run_python, "app.py", context=context)
            for name, context in BAD_CONTEXTS.items()
        }


def test_app_exits_with_one_line_for_an_unknown_environment(
    app_runs: dict[str, Future[subprocess.CompletedProcess[str]]],
) -> None:
    result = app_runs["unknown env"].result()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "config error: environment 'qa', field 'env (-c env=...)': not a configured environment; "
        f"allowed: {', '.join(APP_CONFIG.environment_names)}"
    ]
    assert "qa" not in APP_CONFIG.environment_names


def test_app_exits_with_one_line_for_an_image_tag_without_its_environment(
    app_runs: dict[str, Future[subprocess.CompletedProcess[str]]],
) -> None:
    """The deploy workflow's -c <image>_image_tag=... goes with -c env (a bad tag value is
    refused like any config value: see test_api_image_tag_that_ecr_would_refuse)."""
    field_name = "web_image_tag (-c web_image_tag=...)"
    result = app_runs["tag without env"].result()
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert f"field '{field_name}'" in lines[0]


def with_bad_environments(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the app (``app.py``, ``stacks/``) whose environments.py has ``new`` for
    ``old``: a bad value written where users write them."""
    shutil.copy(REPO_ROOT / "app.py", tmp_path)
    shutil.copytree(
        REPO_ROOT / "stacks", tmp_path / "stacks", ignore=shutil.ignore_patterns("__pycache__")
    )
    environments = tmp_path / "stacks" / "config" / "environments.py"
    text = environments.read_text()
    assert text.count(old) == 1, old
    environments.write_text(text.replace(old, new))
    return tmp_path


def assert_one_line_on_stderr(result: Any, line: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert [text for text in result.stderr.splitlines() if text.startswith("config error")] == [
        line
    ]
    assert not [text for text in result.stderr.splitlines() if "Error" in text and text != line]


def test_a_wrong_type_in_environments_py_stops_the_app_with_one_line(tmp_path: Path) -> None:
    """``min_instances="two"`` in dev: pydantic refuses it while the environments are built, at
    import; ``app.py`` (which ``make synth`` runs) prints one line and exits 1."""
    root = with_bad_environments(
        tmp_path, "spot=True, min_instances=1,", 'spot=True, min_instances="two",'
    )
    expected = (
        "config error: environment 'dev', field 'web.min_instances': 'two' is a str, not a "
        "number; allowed: an integer 1..25"
    )
    assert_one_line_on_stderr(run_python("app.py", cwd=root), expected)
    assert_one_line_on_stderr(run_python("-m", "stacks.config", "check", cwd=root), expected)


def test_an_unknown_field_in_environments_py_stops_every_command_with_one_line(
    tmp_path: Path,
) -> None:
    root = with_bad_environments(tmp_path, "spot=True,", "spot=True, foo=1,")
    for command in (("-m", "stacks.config", "check"), ("-m", "stacks.delivery", "plan", "dev")):
        result = run_python(*command, cwd=root)
        (line,) = [text for text in result.stderr.splitlines() if text.startswith("config error")]
        assert line.startswith("config error: environment 'dev', field 'web.foo': WebConfig has ")
        assert_one_line_on_stderr(result, line)
