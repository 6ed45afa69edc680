"""The test session's background job, ``python -m tests.background OUTDIR`` (``BackgroundSynth``
starts it): the shipped synth (``synth_shipped``), cfn-lint over its templates, and each set of
variants (``tests/variant_sets.py``), in another process at a lower priority, so the tests that
read none of it run meanwhile on the other core. Each result is a file in OUTDIR, written whole,
or else its ``.error`` file with the traceback; ``synth.log`` says when each was ready."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.synth import (
    INDEX,
    REPO_ROOT,
    Synthesized,
    cfn_lint,
    load_shipped,
    synth_shipped,
    write_atomically,
)
from tests.variant_sets import SETS, SynthesizedSet, synth_set

LINT_REPORT = "cfn-lint.txt"
LOG = "synth.log"
FAILED = ".error"
NICENESS = 10
"""The tests wait for the job only once they have run out of others: until then they come first."""


def set_file(name: str) -> str:
    return f"variants-{name}.json"


class BackgroundSynth:
    """The running job, and its results, each as soon as it is written."""

    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.started = time.time()
        """When the job started (wall clock, as file times are)."""
        self.waited = 0.0
        """Seconds the tests spent waiting for a result."""
        self._sets: dict[str, SynthesizedSet] = {}
        self._log = (outdir / LOG).open("w")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.background", str(outdir)],
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stop() ends its children too (cfn-lint, jsii's node)
        )
        # Before it starts its own children (jsii's node, cfn-lint): they inherit it.
        os.setpriority(os.PRIO_PROCESS, self._process.pid, NICENESS)

    def synthesized(self) -> Synthesized:
        self._wait_for(INDEX)
        return load_shipped(self.outdir)

    def cfn_lint_report(self) -> str:
        """cfn-lint's findings over every shipped template, one per line (``cfn_lint``)."""
        return self._wait_for(LINT_REPORT).read_text()

    def variant_set(self, name: str) -> SynthesizedSet:
        if name not in self._sets:
            text = self._wait_for(set_file(name)).read_text()
            self._sets[name] = SynthesizedSet.from_json(text)
        return self._sets[name]

    def stop(self) -> None:
        """Ends the job if the session did not need all of it (``-x``, a subset of tests)."""
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended just now
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._log.close()

    def summary(self) -> str:
        """One line: when each result was ready, from the job's start, and how long the tests
        waited for them (when they did, the job was the session's critical path)."""
        ready = []
        for name in (INDEX, LINT_REPORT, *map(set_file, SETS)):
            for path in (self.outdir / name, self.outdir / f"{name}{FAILED}"):
                if path.exists():
                    ready.append(f"{path.name} {path.stat().st_mtime - self.started:.1f} s")
        return (
            f"background synth: {', '.join(ready) or 'nothing'} after it started; "
            f"the tests waited {self.waited:.1f} s for it"
        )

    def _wait_for(self, name: str) -> Path:
        path, failed = self.outdir / name, self.outdir / f"{name}{FAILED}"
        waiting = time.monotonic()
        while not path.exists():
            if failed.exists():
                raise RuntimeError(f"the background job failed on {name}:\n{failed.read_text()}")
            if self._process.poll() is not None and not (path.exists() or failed.exists()):
                raise RuntimeError(f"the background job ended without {name}:\n{self._output()}")
            time.sleep(0.05)
        self.waited += time.monotonic() - waiting
        return path

    def _output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return (self.outdir / LOG).read_text()


def _produce(path: Path, make: Callable[[], str], log: Callable[[str], None]) -> None:
    """``path`` with what ``make`` returns, or ``path.error`` with why it raised."""
    try:
        text = make()
    except Exception:
        write_atomically(path.with_name(f"{path.name}{FAILED}"), traceback.format_exc())
        log(f"{path.name} failed")
        return
    write_atomically(path, text)
    log(f"{path.name} written")


def main() -> None:
    """``python -m tests.background OUTDIR``: what ``BackgroundSynth`` runs."""
    outdir = Path(sys.argv[1])
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"{message} {time.monotonic() - started:.1f} s after the imports", flush=True)

    synthesized = synth_shipped(outdir)
    log(f"{INDEX} written")
    regions = sorted({env.config.region for env in synthesized.envs.values()})
    templates = synthesized.template_files()
    lint = threading.Thread(
        target=_produce, args=(outdir / LINT_REPORT, partial(cfn_lint, templates, regions), log)
    )
    lint.start()  # a process of its own, beside the variants' synth
    for name in SETS:
        _produce(outdir / set_file(name), partial(_set_json, name), log)
    lint.join()


def _set_json(name: str) -> str:
    return synth_set(name).to_json()


if __name__ == "__main__":
    main()
