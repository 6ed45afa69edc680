"""Synth time of each environment and of the whole app, beside an empty CDK app's synth (one
stack, one no-op resource), and the wall time of ``make test``, each against its target.

Each synth figure is the median of several runs of the pinned CLI (``npx cdk synth --quiet``),
the way ``make synth`` runs it: warm, into an output directory that the runs share as ``make
synth`` reuses ``cdk.out`` (so bundled Lambda code already staged there is not bundled again),
with the Lambda dependencies already cached (``.cache/lambda-deps``). The empty app runs with
the same ``cdk.json`` (feature flags, so the same built-in template validation).
"""

from __future__ import annotations

import os
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
SYNTH_RATIO_TARGET = 2.5
"""Synth of every environment, at most this many times an empty app's synth."""
MAKE_TEST_TARGET_SECONDS = 90.0
"""``make test`` (lint, types, every test) on 2 cores, warm."""
Row = tuple[str, str, str, str]


def progress(message: str) -> None:
    """One line on stderr while the benchmark runs (the table goes to stdout at the end)."""
    print(message, file=sys.stderr, flush=True)


def timed_synth(outdir: str, extra: list[str], app: str | None = None) -> float:
    command = ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", outdir, *extra]
    if app is not None:
        command += ["--app", app]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)  # noqa: S603
    return time.perf_counter() - started


def median_of(
    runs: int, label: str, outdir: str, extra: list[str], app: str | None = None
) -> float:
    times = []
    for run in range(1, runs + 1):
        progress(f"synth {label} {run}/{runs}...")
        times.append(timed_synth(outdir, extra, app))
    return statistics.median(times)


def against(target: float, value: float) -> str:
    return f"{value / target:.2f}x"


def rows(runs: int = 3) -> list[Row]:
    """(what, seconds, empty app seconds, ratio) per environment and for the whole app, then the
    whole app's ratio against its target."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as workdir:
        empty_app = Path(workdir, "empty_app.py")
        empty_app.write_text(EMPTY_APP)
        empty_out, app_out = str(Path(workdir, "empty.out")), str(Path(workdir, "app.out"))
        progress("synth: warm-up runs...")
        timed_synth(empty_out, [], app=f"{sys.executable} {empty_app}")
        timed_synth(app_out, [])  # stages the bundled Lambda code, as a first `make synth` does
        empty_seconds = median_of(
            runs, "empty app", empty_out, [], app=f"{sys.executable} {empty_app}"
        )
        by_env = {
            env.name: median_of(runs, env.name, app_out, ["--context", f"env={env.name}"])
            for env in APP_CONFIG.environments
        }
        total = median_of(runs, "all environments", app_out, [])
    result: list[Row] = []
    for name, seconds in by_env.items():
        result.append(
            (
                f"synth {name} (s)",
                f"{seconds:.1f}",
                f"{empty_seconds:.1f}",
                f"{seconds / empty_seconds:.1f}x",
            )
        )
    ratio = total / empty_seconds
    result += [
        (
            f"synth all {len(APP_CONFIG.environments)} environments (s)",
            f"{total:.1f}",
            f"{empty_seconds:.1f}",
            f"{ratio:.1f}x",
        ),
        (
            "synth all / empty app (target)",
            f"{ratio:.2f}x",
            f"{SYNTH_RATIO_TARGET}x",
            against(SYNTH_RATIO_TARGET, ratio),
        ),
    ]
    return result


def make_test_row() -> Row:
    """``make test`` once, its output discarded: (what, seconds, target, against the target).
    A failing run is still timed, and said so."""
    progress("make test...")
    # A fresh make, not a sub-make of `make bench`: its jobserver is not ours to share.
    environment = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    started = time.perf_counter()
    result = subprocess.run(
        ["make", "--no-print-directory", "test"],  # noqa: S607 - make from the PATH, as users do
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    passed = "" if result.returncode == 0 else ", FAILED"
    return (
        f"make test (s, warm{passed})",
        f"{seconds:.0f}",
        f"{MAKE_TEST_TARGET_SECONDS:.0f} s",
        against(MAKE_TEST_TARGET_SECONDS, seconds),
    )
