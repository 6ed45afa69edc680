"""Synth time of each environment and of the whole app, beside an empty CDK app's synth (one
stack, one no-op resource), and the wall time of ``make test``, each against its target.

Each synth figure is the median of several runs of the pinned CLI (``npx cdk synth --quiet``),
the way ``make synth`` runs it: warm, into an output directory that the runs share as ``make
synth`` reuses ``cdk.out`` (so bundled Lambda code already staged there is not bundled again),
with the Lambda dependencies already cached (``.cache/lambda-deps``). The empty app runs with
the same ``cdk.json`` (feature flags, so the same built-in template validation).
"""

from __future__ import annotations

import argparse
import os
import resource
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
    """Wall seconds of one ``npx cdk synth``; its CPU seconds (CLI, app and jsii's node, all
    children of this process) go to the progress line, as a check on a loaded machine."""
    command = ["npx", "--no-install", "cdk", "synth", "--quiet", "--output", outdir, *extra]
    if app is not None:
        command += ["--app", app]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)  # noqa: S603
    seconds = time.perf_counter() - started
    progress(f"  {seconds:.1f} s ({_children_cpu() - cpu_before:.1f} s CPU)")
    return seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def against(target: float, value: float) -> str:
    return f"{value / target:.2f}x"


def rows(runs: int = 3) -> list[Row]:
    """(what, seconds, empty app seconds, ratio) per environment and for the whole app, then the
    whole app's ratio against its target.

    The runs are interleaved (empty app, each environment, whole app, then again), so a change
    in the machine's load while the benchmark runs weighs on every figure alike."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as workdir:
        empty_app = Path(workdir, "empty_app.py")
        empty_app.write_text(EMPTY_APP)
        empty_out, app_out = str(Path(workdir, "empty.out")), str(Path(workdir, "app.out"))
        synths: dict[str, tuple[str, list[str], str | None]] = {
            "empty app": (empty_out, [], f"{sys.executable} {empty_app}"),
            **{
                env.name: (app_out, ["--context", f"env={env.name}"], None)
                for env in APP_CONFIG.environments
            },
            "all environments": (app_out, [], None),
        }
        progress("synth: warm-up runs...")
        timed_synth(empty_out, [], app=f"{sys.executable} {empty_app}")
        timed_synth(app_out, [])  # stages the bundled Lambda code, as a first `make synth` does
        times: dict[str, list[float]] = {label: [] for label in synths}
        for run in range(1, runs + 1):
            for label, (outdir, extra, app) in synths.items():
                progress(f"synth {label} {run}/{runs}...")
                times[label].append(timed_synth(outdir, extra, app))
    median = {label: statistics.median(seconds) for label, seconds in times.items()}
    empty_seconds, total = median.pop("empty app"), median.pop("all environments")
    result: list[Row] = []
    for name, seconds in median.items():
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


def main() -> None:
    """``python -m bench.synth_bench [--runs N]``: the synth rows alone."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--runs", type=int, default=3, help="synth runs per figure")
    for row in rows(parser.parse_args().runs):
        print(" | ".join(row))


if __name__ == "__main__":
    main()
