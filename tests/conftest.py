"""The shipped synth (every environment, as `make synth` does) and the sets of variants several
modules read, once per test session, in the background (tests/background.py): the job starts
with the session, and the modules that read it run after the others."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator

import pytest

from devkit.fixtures import mysql_database as mysql_database  # one MariaDB/MySQL, as for PG
from devkit.fixtures import mysql_server as mysql_server
from devkit.fixtures import pg_database as pg_database  # one real PostgreSQL for every test module
from devkit.fixtures import pg_server as pg_server
from tests.background import BackgroundSynth
from tests.synth import CONTAINER_SHAPE_ENV_NAMES, env_fixture, synth_shipped

# Re-exported while test modules still import them from here; new code imports tests.synth.
from tests.synth import REPO_ROOT as REPO_ROOT
from tests.synth import Synthesized as Synthesized
from tests.synth import SynthesizedEnv as SynthesizedEnv
from tests.synth import cdk_json_context as cdk_json_context
from tests.synth import cfn_lint as cfn_lint
from tests.variant_sets import SynthesizedSet, synth_set

# Bytecode caches (``__pycache__``) for this process and every Python the tests start (the
# background job, app.py, cfn-lint, ...), even where the environment sets
# PYTHONDONTWRITEBYTECODE, as some containers do: aws-cdk-lib's modules are megabytes of source,
# and compiling them again took ~4 s in each such process, a dozen times a session.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# No test reads moto's stock AMIs, and each fresh EC2 backend loaded all of them (seconds per
# preflight module). Set for the processes the tests start too.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

BACKGROUND_FIXTURES = ("synthesized", "variant_sets")
"""The fixtures of the background job's results."""


def reads_background(item: pytest.Item) -> bool:
    return any(name in getattr(item, "fixturenames", ()) for name in BACKGROUND_FIXTURES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules that read the background job's results run last (each module stays whole, in its
    order), so the job runs while the others run."""
    reading = {item.path for item in items if reads_background(item)}
    items.sort(key=lambda item: item.path in reading)


JOB = pytest.StashKey[BackgroundSynth]()


@pytest.fixture(scope="session", autouse=True)
def shipped_synth(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundSynth | None]:
    """Starts the background job with the session, when a selected test reads it."""
    if not any(reads_background(item) for item in request.session.items):
        yield None
        return
    job = BackgroundSynth(tmp_path_factory.mktemp("cdk.out"))
    request.config.stash[JOB] = job
    yield job
    job.stop()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Whether the tests outran the background job (then it is the session's critical path)."""
    job = config.stash.get(JOB, None)
    if job is not None:
        terminalreporter.write_line(job.summary())


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


@pytest.fixture(scope="session")
def variant_sets(shipped_synth: BackgroundSynth | None) -> Callable[[str], SynthesizedSet]:
    """Name -> that set of variants (tests/variant_sets.py), synthesized in the background, or
    here on first use when the session has no background job."""
    if shipped_synth is None:
        return functools.cache(synth_set)
    return shipped_synth.variant_set


env = env_fixture(CONTAINER_SHAPE_ENV_NAMES)
"""Each shipped environment of today's shape in turn (``CONTAINER_SHAPE_ENV_NAMES``)."""
