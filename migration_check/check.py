"""The check on a database it is given: BASE's migrations with BASE's runner, this checkout's
on top with this checkout's runner, then BASE's API code through the read/write smoke.

Each side runs in its own Python process with only its own ``lambda_src`` on the path, so two
versions of the `api` and `db_migrate` packages never meet in one interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit.api_env import api_environment
from migration_check import report
from migration_check.base import Base, export, resolve

CHECKOUT_ROOT = Path(__file__).resolve().parents[1]
"""This checkout: where ``devkit/smoke.py`` comes from when BASE has none."""
RUNNER = """\
import sys
import psycopg
from db_migrate.migrate import apply_migrations, load_migrations
from db_migrate.postgresql import MIGRATIONS_DIR
try:
    with psycopg.connect(sys.argv[1]) as conn:
        apply_migrations(conn, load_migrations(MIGRATIONS_DIR))
except Exception as exc:
    sys.exit(" ".join(f"{type(exc).__name__}: {exc}".split()))
"""
"""A tree's runner as the deploy's custom resource calls it, on the database named by argv[1]."""
STEP_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str
    """What to print: the one success line (after a note when nothing changed), or the report."""


@dataclass(frozen=True)
class _Run:
    ok: bool
    error: str


def run(repo: Path, base_ref: str, conninfo: str) -> Outcome:
    """The whole check of `repo`'s work tree against `base_ref` on the empty database
    `conninfo` (the superuser's). Raises CheckError when BASE cannot be read."""
    return run_base(repo, resolve(repo, base_ref), conninfo)


def run_base(repo: Path, base: Base, conninfo: str) -> Outcome:
    """`run` for a BASE already resolved."""
    with tempfile.TemporaryDirectory(prefix="migration-check-") as work:
        return check(repo, base, conninfo, Path(work))


def check(repo: Path, base: Base, conninfo: str, work: Path) -> Outcome:
    tree = export(repo, base, work / "base")
    changes = report.compare(tree, repo)
    notes = [report.identical(base)] if changes.none else []

    old = _python(["-c", RUNNER, conninfo], tree / "lambda_src", work)
    if not old.ok:
        what = f"{base.short}'s own migrations failed on an empty database"
        return _failed(report.migrations_failed(base), what, old.error, base, changes)
    new = _python(["-c", RUNNER, conninfo], repo / "lambda_src", work)
    if not new.ok:
        what = f"this checkout's migrations failed on top of {base.short}'s schema"
        return _failed(report.migrations_failed(base), what, new.error, base, changes)

    smoke = _smoke(tree, conninfo, work)
    if isinstance(smoke, _Run):
        what = "the old API could not run the smoke"
        return _failed(report.incompatible(base), what, smoke.error, base, changes)
    failure = smoke.get("failure")
    if failure:
        return report_smoke_failure(base, failure, changes)
    return Outcome(ok=True, text="\n".join([*notes, report.success(base, int(smoke["calls"]))]))


def report_smoke_failure(base: Base, failure: dict[str, Any], changes: report.Changes) -> Outcome:
    wrong = failure.get("problem") or f"expected {failure['expected']}, got {failure['status']}"
    details = [
        f"failing call: {failure['call']}: {wrong}",
        f"database error: {failure.get('error') or 'none logged'}",
    ]
    if not failure.get("error"):
        details.append(f"response body: {failure.get('body', '')}")
    headline = f"{report.incompatible(base)}: the old API failed the read/write smoke"
    return Outcome(ok=False, text=report.failure(headline, details, base, changes))


def _failed(headline: str, what: str, error: str, base: Base, changes: report.Changes) -> Outcome:
    details = [f"error: {error or 'none reported'}"]
    return Outcome(ok=False, text=report.failure(f"{headline}: {what}", details, base, changes))


def _smoke(tree: Path, conninfo: str, work: Path) -> dict[str, Any] | _Run:
    """BASE's API code through the smoke, BASE's copy of it where it has one: its JSON result
    (``devkit.smoke.main``), or the failed run when it wrote none."""
    if (tree / "devkit" / "smoke.py").is_file():
        smoke_root = tree
    else:
        smoke_root = work / "checkout"
        shutil.copytree(
            CHECKOUT_ROOT / "devkit",
            smoke_root / "devkit",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    result_file = work / "smoke.json"
    ran = _python(
        ["-m", "devkit.smoke", str(result_file)],
        tree / "lambda_src",
        work,
        extra_path=smoke_root,
        env=api_environment(conninfo),
    )
    if not ran.ok or not result_file.is_file():
        return _Run(ok=False, error=ran.error or "the smoke wrote no result")
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def _python(
    args: list[str],
    lambda_src: Path,
    cwd: Path,
    *,
    extra_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> _Run:
    """This interpreter with `lambda_src` (then `extra_path`) as its only PYTHONPATH."""
    path = [str(lambda_src)] + ([str(extra_path)] if extra_path else [])
    environ = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(path)}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        environ.pop(name, None)  # the old code gets no credentials: it needs none here
    try:
        result = subprocess.run(  # noqa: S603 - this interpreter on fixed code or a module
            [sys.executable, *args],
            cwd=cwd,
            env=environ,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return _Run(ok=False, error=f"no answer within {STEP_TIMEOUT_SECONDS} s")
    lines = result.stderr.strip().splitlines()
    return _Run(ok=result.returncode == 0, error=lines[-1] if lines else "")
