"""Helpers of the config tests: the shipped config with some values changed, and the one-line
error a change gets. A config is validated when built, so ``error_of`` takes what builds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from stacks.config import APP_CONFIG, AppConfig, ConfigError, check_deployable
from tests.conftest import REPO_ROOT

DEV = APP_CONFIG.environment("dev")
REAL_ACCOUNTS = {
    "dev": "123456789012",
    "staging": "234567890123",
    "prod": "345678901234",
    "spa": "123456789012",
    "classic": "456789012345",
    "ec2": "567890123456",
    "express": "678901234567",
}
"""A real-looking account per shipped environment (every name of ``APP_CONFIG``: a new
environment needs one here, or ``real_config`` fails on it)."""
REAL_REPOSITORY = "acme-platform/serverless-three-tier"
REAL_ZONE = "acme-platform.dev"
REAL_HOSTED_ZONE_ID = "Z04517272K5GTIXMX3VQX"


def with_dev(**changes: Any) -> AppConfig:
    """The shipped config with some fields of dev replaced."""
    dev = replace(DEV, **changes)
    return replace(
        APP_CONFIG,
        environments=tuple(dev if env.name == "dev" else env for env in APP_CONFIG.environments),
    )


def with_section(section: str, **changes: Any) -> AppConfig:
    """The shipped config with some fields of one section of dev replaced."""
    return with_dev(**{section: replace(getattr(DEV, section), **changes)})


def with_web(env_name: str, **changes: Any) -> AppConfig:
    """The shipped config with some ``web`` fields of one environment replaced."""
    return replace(
        APP_CONFIG,
        environments=tuple(
            replace(env, web=replace(env.web, **changes)) if env.name == env_name else env
            for env in APP_CONFIG.environments
        ),
    )


def with_github(**changes: Any) -> AppConfig:
    return replace(APP_CONFIG, github=replace(APP_CONFIG.github, **changes))


def real_config() -> AppConfig:
    """The shipped config with every placeholder replaced by a real-looking value: accounts,
    e-mail, repository, and each custom domain as a host of its own in one real zone (prod's
    ``www``, the others named after their environment)."""
    environments = []
    for env in APP_CONFIG.environments:
        web = env.web
        if web.domain_name is not None:
            host = "www" if env.name == "prod" else env.name
            web = replace(
                web,
                domain_name=f"{host}.{REAL_ZONE}",
                hosted_zone_id=REAL_HOSTED_ZONE_ID,
                hosted_zone_name=REAL_ZONE,
            )
        environments.append(
            replace(
                env,
                account=REAL_ACCOUNTS[env.name],
                alert_email=f"alerts-{env.name}@{REAL_ZONE}",
                web=web,
            )
        )
    return replace(
        APP_CONFIG,
        environments=tuple(environments),
        github=replace(APP_CONFIG.github, repository=REAL_REPOSITORY),
    )


def real_with(env_name: str, **changes: Any) -> AppConfig:
    """The fully real config with some fields of one environment (``web`` as a dict) replaced."""
    config = real_config()
    env = config.environment(env_name)
    web_changes = changes.pop("web", {})
    env = replace(env, web=replace(env.web, **web_changes), **changes)
    return replace(
        config,
        environments=tuple(env if e.name == env_name else e for e in config.environments),
    )


def error_of(build: Callable[[], object]) -> ConfigError:
    """The ConfigError building a config raises (``lambda: with_dev(...)``)."""
    with pytest.raises(ConfigError) as caught:
        build()
    return caught.value


def deploy_error(config: AppConfig, env_name: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        check_deployable(config, env_name)
    return caught.value


def assert_one_line(error: ConfigError, env: str, field: str, *allowed_fragments: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.startswith(f"config error: environment '{env}', field '{field}': ")
    allowed = message.split("; allowed: ", 1)[1]
    for fragment in allowed_fragments:
        assert fragment in allowed


def run_python(
    *args: str,
    context: dict[str, str] | None = None,
    cwd: Path = REPO_ROOT,
    environ: Mapping[str, str] = os.environ,
) -> subprocess.CompletedProcess[str]:
    """Python in a subprocess, in the repository (``cwd``: another copy of it, which then comes
    first on the path), with ``environ`` and the CDK context given."""
    environment = {**environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20,21,22"}
    if context is not None:
        environment["CDK_CONTEXT_JSON"] = json.dumps(context)
    if cwd != REPO_ROOT:
        environment["PYTHONPATH"] = os.pathsep.join([str(cwd), str(REPO_ROOT)])
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
