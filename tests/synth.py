"""The one way tests synthesize the app.

- The shipped app: ``synth_shipped(outdir)`` synthesizes every shipped environment and the
  GitHub OIDC stages with the quality gates (cdk-nag), exactly as ``make synth`` does. The test
  session runs it once, in the background (``tests/background.py``, started by conftest),
  followed by cfn-lint over its templates; the fixture ``synthesized`` hands out the templates
  (``Synthesized``, ``SynthesizedEnv``).
- A config change: ``synth_variant(env_config, tier)`` synthesizes one environment's stacks up
  to ``tier`` only (each tier uses only the ones before it), without cdk-nag or CDK's built-in
  template checks, which the shipped synth runs; ``synth_variant_tiers`` returns each of those
  templates. ``nag=True`` adds both and fails on any unacknowledged finding, for the variants
  whose point is that they pass them. The variants several tests read whole are synthesized
  in the background too (``tests/variant_sets.py``).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,21,22")

import pytest
from aws_cdk import App, Stack, Stage  # imported after the jsii variables above are set

from cdk_constructs.compliance import add_compliance_pack
from stacks import platform_app
from stacks.config import APP_CONFIG, AppConfig, EnvironmentConfig, runtime_spec
from stacks.platform_stack import Tier as Tier  # re-exported: tests name tiers through here
from stacks.platform_stage import PlatformStage

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_NAMES = APP_CONFIG.environment_names
CONTAINER_SHAPE_ENV_NAMES = tuple(
    env.name for env in APP_CONFIG.environments if env.api.kind == "private_lambda"
)
"""The environments of today's shape (a container web app, the private API): what the ``env``
fixture's tests assert. The S3M shape's environment has its own tests (test_services_api.py,
test_web_stack_site.py, test_static_site.py), and every shipped environment is covered by the
snapshot, nag, cfn-lint and cost tests."""
PLATFORM_ALB_ENV_NAMES = tuple(
    name
    for name in CONTAINER_SHAPE_ENV_NAMES
    if not runtime_spec(APP_CONFIG.environment(name).web.runtime).behind_cloudfront
)
"""Those whose web tier is behind the platform's own ALB (Fargate, EC2): what the web stack's,
the releases' and the web variants' shared tests assert. Express (behind CloudFront; its ALB is
Express's) has its own module, tests/test_web_runtime_express.py."""
CfnTemplate = dict[str, Any]


def env_fixture(names: tuple[str, ...]) -> Any:
    """An ``env`` fixture over the shipped environments ``names`` (conftest's: every one of
    today's shape); a module whose tests hold for fewer assigns its own to ``env``."""

    @pytest.fixture(params=names)
    def env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
        name: str = request.param
        return synthesized.envs[name]

    return env


TIERS = tuple(Tier)


def cdk_json_context() -> dict[str, Any]:
    """The feature flags of cdk.json, so tests synthesize exactly what `cdk synth` does."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    return context


def scratch_app(outdir: Path | None = None) -> App:
    """An app for a construct test, with cdk.json's feature flags and without CDK's built-in
    template checks: those are cfn-lint's rules as WebAssembly, seconds to start in each process,
    and the shipped synth runs them; cfn-lint runs over the scratch templates that must pass it."""
    return App(
        outdir=None if outdir is None else str(outdir),
        context=cdk_json_context(),
        builtin_cloud_formation_validation=False,
    )


class CfnLintRun:
    """cfn-lint over templates, with the project's configuration, started in the background:
    ``report()`` waits for its findings (one per line). Start it as soon as the templates exist
    and ask for the report last, so the tests in between run meanwhile."""

    def __init__(self, templates: list[Path], regions: list[str]) -> None:
        self._process = subprocess.Popen(
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
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def report(self) -> str:
        stdout, stderr = self._process.communicate(timeout=300)
        assert self._process.returncode == 0 or stdout, stderr
        return stdout


def cfn_lint(templates: list[Path], regions: list[str]) -> str:
    """cfn-lint's findings (one per line) over templates, with the project's configuration."""
    return CfnLintRun(templates, regions).report()


@dataclass(frozen=True)
class SynthesizedEnv:
    """One environment's config and synthesized templates."""

    config: EnvironmentConfig
    network_json: CfnTemplate
    data_json: CfnTemplate
    api_json: CfnTemplate
    web_json: CfnTemplate
    ops_json: CfnTemplate
    others: dict[str, CfnTemplate]
    """Construct id -> template of each other stack of the stage (the static site's edge
    stack in us-east-1)."""

    def template(self, tier: Tier) -> CfnTemplate:
        template: CfnTemplate = getattr(self, f"{tier}_json")
        return template

    @property
    def stage(self) -> PlatformStage:
        """The environment's stage, built in this process from the same config as the synth
        (which runs in another): for its constructs' attributes; the templates are above."""
        return constructed_stages()[self.config.name]


@dataclass(frozen=True)
class Synthesized:
    """The whole synthesized app."""

    outdir: Path
    envs: dict[str, SynthesizedEnv]
    oidc: dict[str, CfnTemplate]
    """Account id -> template of its GitHub OIDC stack."""

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("assembly-*/*.template.json"))


def _template(outdir: Path, stage: Stage, stack: Stack) -> CfnTemplate:
    template: CfnTemplate = json.loads(
        (outdir / stage.artifact_id / stack.template_file).read_text()
    )
    return template


INDEX = "shipped-templates.json"


@functools.cache
def constructed_stages() -> dict[str, PlatformStage]:
    """The shipped app built as ``make synth`` builds it, but not synthesized."""
    return platform_app.build_platform(
        App(context=cdk_json_context()), APP_CONFIG, APP_CONFIG.environments
    )


def synth_shipped(outdir: Path) -> Synthesized:
    """Every shipped environment as ``make synth`` builds it; raises on any cdk-nag error
    (``test_quality_gates`` checks that no warning is left either). An index of the templates
    (``INDEX``) lets another process load them (``load_shipped``)."""
    app = App(outdir=str(outdir), context=cdk_json_context())
    stages = platform_app.build_platform(app, APP_CONFIG, APP_CONFIG.environments)
    app.synth()
    index = {
        "oidc": {
            account: f"{stage.artifact_id}/{stage.stack.template_file}"
            for account, stage in platform_app.oidc_stages(app).items()
        },
        "envs": {
            name: {
                tier: f"{stage.artifact_id}/{_stack(stage, tier).template_file}" for tier in Tier
            }
            for name, stage in stages.items()
        },
        "others": {name: _other_stacks(stage) for name, stage in stages.items()},
    }
    write_atomically(outdir / INDEX, json.dumps(index))
    return load_shipped(outdir)


def write_atomically(path: Path, text: str) -> None:
    """Another process waits for ``path``: it must never see it half written."""
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)


def load_shipped(outdir: Path) -> Synthesized:
    """The templates ``synth_shipped`` wrote into ``outdir``."""
    index = json.loads((outdir / INDEX).read_text())

    def load(relative: str) -> CfnTemplate:
        template: CfnTemplate = json.loads((outdir / relative).read_text())
        return template

    envs = {
        name: SynthesizedEnv(
            config=APP_CONFIG.environment(name),
            **{f"{tier}_json": load(path) for tier, path in files.items()},
            others={
                construct_id: load(path) for construct_id, path in index["others"][name].items()
            },
        )
        for name, files in index["envs"].items()
    }
    oidc = {account: load(path) for account, path in index["oidc"].items()}
    return Synthesized(outdir=outdir, envs=envs, oidc=oidc)


def _other_stacks(stage: PlatformStage) -> dict[str, str]:
    """Construct id -> template path of the stage's stacks that are no tier."""
    tiers = {_stack(stage, tier) for tier in Tier}
    return {
        child.node.id: f"{stage.artifact_id}/{child.template_file}"
        for child in stage.node.children
        if isinstance(child, Stack) and child not in tiers
    }


def _stack(stage: PlatformStage, tier: Tier) -> Stack:
    stack: Stack = getattr(stage, tier.value)
    return stack


def synth_variant_tiers(
    env_config: EnvironmentConfig,
    tier: Tier = Tier.OPS,
    *,
    app_config: AppConfig = APP_CONFIG,
    nag: bool = False,
) -> dict[Tier, CfnTemplate]:
    """The templates of ``env_config``'s stacks up to ``tier`` (inclusive), by tier. The stage
    builds no later stack (``until``), so nothing is synthesized that ``tier`` does not need;
    nor are the outputs only those would read (``PublishOutput...``): ask for ``Tier.OPS`` to
    see a producer's outputs."""
    with tempfile.TemporaryDirectory(prefix="variant-") as outdir:
        # Without nag, no built-in template checks either (cfn-lint's rules as WebAssembly,
        # seconds to start): the shipped synth and cfn-lint cover them.
        app = App(outdir=outdir, context=cdk_json_context(), builtin_cloud_formation_validation=nag)
        stage = PlatformStage(app, app=app_config, env_config=env_config, until=tier)
        if nag:
            platform_app.add_quality_gates(app)
            add_compliance_pack(stage, env_config.security.compliance)
        app.synth()
        if nag:
            assert platform_app.unacknowledged_findings(outdir) == []
        return {
            kept: _template(Path(outdir), stage, _stack(stage, kept))
            for kept in TIERS[: TIERS.index(tier) + 1]
        }


def synth_variant(
    env_config: EnvironmentConfig,
    tier: Tier,
    *,
    app_config: AppConfig = APP_CONFIG,
    nag: bool = False,
) -> CfnTemplate:
    """The template of ``tier`` of ``env_config`` (see ``synth_variant_tiers``)."""
    return synth_variant_tiers(env_config, tier, app_config=app_config, nag=nag)[tier]
