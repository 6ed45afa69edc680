"""Synthesizes every shipped environment once per test session, as `make synth` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21,22")

from aws_cdk import App, Stack, Stage  # imported after the jsii variables above are set

from stacks.config import APP_CONFIG, EnvironmentConfig
from stacks.platform_app import build_platform, oidc_stages
from stacks.platform_stage import PlatformStage
from tests.postgres import pg_database as pg_database  # one real PostgreSQL for every test module
from tests.postgres import pg_server as pg_server

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_NAMES = APP_CONFIG.environment_names


def cfn_lint(templates: list[Path], regions: list[str]) -> str:
    """cfn-lint's findings (one per line) over templates, with the project's configuration."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("cfn-lint")),
            "--config-file",
            str(REPO_ROOT / ".cfnlintrc.yaml"),
            "--format",
            "parseable",
            "--regions",
            *regions,
            "--",
            *map(str, templates),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0 or result.stdout, result.stderr
    return result.stdout


def cdk_json_context() -> dict[str, Any]:
    """The feature flags of cdk.json, so tests synthesize exactly what `cdk synth` does."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


@dataclass(frozen=True)
class SynthesizedEnv:
    """One environment's config, stage and synthesized templates."""

    config: EnvironmentConfig
    stage: PlatformStage
    network_json: dict[str, Any]
    data_json: dict[str, Any]
    api_json: dict[str, Any]
    web_json: dict[str, Any]
    ops_json: dict[str, Any]


@dataclass(frozen=True)
class Synthesized:
    """The whole synthesized app."""

    outdir: Path
    envs: dict[str, SynthesizedEnv]
    oidc: dict[str, dict[str, Any]]
    """Account id -> template of its GitHub OIDC stack."""

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("assembly-*/*.template.json"))


def _template(outdir: Path, stage: Stage, stack: Stack) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(
        (outdir / stage.artifact_id / stack.template_file).read_text()
    )
    return template


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(outdir=str(outdir), context=cdk_json_context())
    stages = build_platform(app, APP_CONFIG, APP_CONFIG.environments)
    app.synth()  # raises if any cdk-nag finding is unacknowledged
    oidc = {
        account: _template(outdir, stage, stage.stack)
        for account, stage in oidc_stages(app).items()
    }
    envs = {
        name: SynthesizedEnv(
            config=stage.env_config,
            stage=stage,
            network_json=_template(outdir, stage, stage.network),
            data_json=_template(outdir, stage, stage.data),
            api_json=_template(outdir, stage, stage.api),
            web_json=_template(outdir, stage, stage.web),
            ops_json=_template(outdir, stage, stage.ops),
        )
        for name, stage in stages.items()
    }
    return Synthesized(outdir=outdir, envs=envs, oidc=oidc)


@pytest.fixture(params=ENV_NAMES)
def env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment in turn."""
    name: str = request.param
    return synthesized.envs[name]
