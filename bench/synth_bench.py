"""Synth time of each environment and of the whole app, beside an empty CDK app's synth (one
stack, one no-op resource).

Each figure is the median of several runs of the pinned CLI (``npx cdk synth``), the way a
user runs it, with the Lambda dependencies already cached (``.cache/lambda-deps``).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stacks.config import APP_CONFIG

REPO_ROOT = Path(__file__).resolve().parent.parent
EMPTY_APP = """
from aws_cdk import App, CfnWaitConditionHandle, Stack
app = App()
# One no-op resource: cdk.json's validation refuses a stack with no resources at all.
CfnWaitConditionHandle(Stack(app, "Empty"), "Nothing")
app.synth()
"""
Row = tuple[str, str, str, str]


def timed_synth(extra: list[str], app: str | None = None) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        command = ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", outdir, *extra]
        if app is not None:
            command += ["--app", app]
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)  # noqa: S603
        return time.perf_counter() - started


def median_of(runs: int, extra: list[str], app: str | None = None) -> float:
    return statistics.median(timed_synth(extra, app) for _ in range(runs))


def rows(runs: int = 3) -> list[Row]:
    """(what, seconds, empty app seconds, ratio) per environment and for the whole app."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as empty:
        empty.write(EMPTY_APP)
    timed_synth([])  # warm: bundling caches, Node's module cache
    empty_seconds = median_of(runs, [], app=f"{sys.executable} {empty.name}")
    Path(empty.name).unlink()
    result: list[Row] = []
    for env in APP_CONFIG.environments:
        seconds = median_of(runs, ["--context", f"env={env.name}"])
        result.append(
            (
                f"synth {env.name} (s)",
                f"{seconds:.1f}",
                f"{empty_seconds:.1f}",
                f"{seconds / empty_seconds:.1f}x",
            )
        )
    total = median_of(runs, [])
    result.append(
        (
            f"synth all {len(APP_CONFIG.environments)} environments (s)",
            f"{total:.1f}",
            f"{empty_seconds:.1f}",
            f"{total / empty_seconds:.1f}x",
        )
    )
    return result
