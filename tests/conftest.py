"""The shipped synth (every environment, as `make synth` does) once per test session, in the
background: it starts with the session, and the modules that read it run after the others."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.fixtures import pg_database as pg_database  # one real PostgreSQL for every test module
from devkit.fixtures import pg_server as pg_server
from tests.synth import ENV_NAMES, BackgroundSynth, synth_shipped

# Re-exported while test modules still import them from here; new code imports tests.synth.
from tests.synth import REPO_ROOT as REPO_ROOT
from tests.synth import Synthesized as Synthesized
from tests.synth import SynthesizedEnv as SynthesizedEnv
from tests.synth import cdk_json_context as cdk_json_context
from tests.synth import cfn_lint as cfn_lint

SHIPPED = "synthesized"
"""The fixture of the shipped synth."""


def reads_shipped(item: pytest.Item) -> bool:
    return SHIPPED in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules that read the shipped synth run last (each module stays whole, in its order),
    so the synth runs in the background while the others run."""
    reading = {item.path for item in items if reads_shipped(item)}
    items.sort(key=lambda item: item.path in reading)


@pytest.fixture(scope="session", autouse=True)
def shipped_synth(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundSynth | None]:
    """Starts the shipped synth with the session, when a selected test reads it."""
    if not any(reads_shipped(item) for item in request.session.items):
        yield None
        return
    job = BackgroundSynth(tmp_path_factory.mktemp("cdk.out"))
    yield job
    job.stop()


@pytest.fixture(scope="session")
def synthesized(
    shipped_synth: BackgroundSynth | None, tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    if shipped_synth is None:  # asked for at run time only (getfixturevalue): synth here
        return synth_shipped(tmp_path_factory.mktemp("cdk.out"))
    return shipped_synth.synthesized()


@pytest.fixture(scope="session")
def shipped_cfn_lint(shipped_synth: BackgroundSynth | None, synthesized: Synthesized) -> str:
    """cfn-lint's findings over every shipped template (run right after the synth)."""
    if shipped_synth is None:
        regions = sorted({env.config.region for env in synthesized.envs.values()})
        return cfn_lint(synthesized.template_files(), regions)
    return shipped_synth.cfn_lint_report()


@pytest.fixture(params=ENV_NAMES)
def env(request: pytest.FixtureRequest, synthesized: Synthesized) -> SynthesizedEnv:
    """Each shipped environment in turn."""
    name: str = request.param
    return synthesized.envs[name]
