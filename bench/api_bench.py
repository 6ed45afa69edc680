"""Items API benchmark: the Lambda handler against the same SQL sent directly, on PostgreSQL.

Starts its own PostgreSQL (pgserver, Unix socket), applies the migrations, and drives the real
handler as `app_api` with only the IAM token faked. For GET /items/{id} and POST /items it
reports p50/p99 latency and requests/s through the handler and for the handler's own SQL on the
handler's own connection (so the ratio is the cost of routing, validation, JSON, logging and
metrics); then the cold init of a fresh interpreter and the unzipped size of the Lambda package,
built as the CDK bundler builds it.

    .venv/bin/python -m bench.api_bench [--requests N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.events import FakeRds, fake_boto3_client, lambda_context, rest_event
from cdk_constructs.python_bundling import lambda_dependencies
from cdk_constructs.vpc_function import ARCHITECTURE, PYTHON_RUNTIME
from stacks.platform_stack import BUNDLE_CACHE_DIR

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO_ROOT / "lambda_src"
API_PACKAGE = LAMBDA_SRC / "api"
MIGRATIONS = LAMBDA_SRC / "db_migrate" / "migrations"

COLD_RUNS = 5
SEED_ITEMS = 1000
WARM_UP = 200


@dataclass(frozen=True)
class Timings:
    seconds: list[float]
    wall: float

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[98] * 1000

    @property
    def per_second(self) -> float:
        return len(self.seconds) / self.wall


def measure(call: Callable[[int], object], count: int) -> Timings:
    for i in range(WARM_UP):
        call(i)
    seconds = []
    started = time.perf_counter()
    for i in range(count):
        before = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - before)
    return Timings(seconds, time.perf_counter() - started)


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL 16; yields the superuser's URI."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs on XDG_RUNTIME_DIR
        from pgserver.postgres_server import get_server

    shm = Path("/dev/shm")  # noqa: S108  # a private TemporaryDirectory inside it
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="pgserver-bench-", dir=parent) as root:
        server: PostgresServer = get_server(Path(root) / "data", cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


def migrate(uri: str) -> None:
    from db_migrate.migrate import apply_migrations, load_migrations

    with psycopg.connect(uri) as conn:
        apply_migrations(conn, load_migrations(MIGRATIONS))


def api_environment(uri: str) -> dict[str, str]:
    params = conninfo_to_dict(uri)
    return {
        "DB_HOST": str(params["host"]),
        "DB_PORT": str(params.get("port") or 5432),
        "DB_NAME": str(params.get("dbname") or "postgres"),
        "DB_USER": "app_api",
        "DB_SSLMODE": "require",  # ignored on a Unix socket
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "items-api",
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }


@dataclass(frozen=True)
class Comparison:
    name: str
    handler: Timings
    direct: Timings


def warm_benchmarks(uri: str, count: int) -> list[Comparison]:
    import boto3

    from api import db, handler, items

    boto3.client = fake_boto3_client(FakeRds())
    with psycopg.connect(uri, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO items (name, description)"
            " SELECT 'seed ' || g, repeat('x', 200) FROM generate_series(1, %s) g",
            (SEED_ITEMS,),
        )
        ids: list[uuid.UUID] = [row[0] for row in admin.execute("SELECT id FROM items ORDER BY id")]
    context = lambda_context()

    def pick(i: int) -> uuid.UUID:
        return ids[(i * 7919) % len(ids)]  # spread over the table, no randomness needed

    def via_handler(event: dict[str, Any], expected: int) -> None:
        response = handler.lambda_handler(event, context)
        if response["statusCode"] != expected:
            raise RuntimeError(f"unexpected response {response}")

    body = json.dumps({"name": "bench item", "description": "d" * 200})
    handler_get = measure(lambda i: via_handler(rest_event("GET", f"/items/{pick(i)}"), 200), count)
    handler_post = measure(lambda i: via_handler(rest_event("POST", "/items", body), 201), count)

    database = db.database()
    conn = database.connection
    assert conn is not None
    session = db.Session(conn, database.settings.statement_timeout_ms)
    direct_get = measure(lambda i: items.get_item(session, pick(i)), count)
    direct_post = measure(
        lambda _: items.create_item(session, uuid.uuid4(), "bench item", "d" * 200), count
    )
    db.reset()
    return [
        Comparison("GET /items/{id}", handler_get, direct_get),
        Comparison("POST /items", handler_post, direct_post),
    ]


def cold_starts(environment: dict[str, str], item_id: str, *, with_pyc: bool) -> dict[str, float]:
    """Medians over fresh interpreters. Without .pyc, every module compiles from source, as from
    the bundler's zip (built with --no-compile onto Lambda's read-only file system)."""
    env = os.environ | environment | {"PYTHONPATH": f"{LAMBDA_SRC}{os.pathsep}{REPO_ROOT}"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        if not with_pyc:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "empty-pycache")
        result = Path(scratch) / "result.json"
        # One unmeasured run first, so "with .pyc" really finds every module compiled.
        for run in range(COLD_RUNS + 1):
            subprocess.run(  # noqa: S603  # this interpreter on this repository's module
                [sys.executable, "-m", "bench.cold_start", item_id, str(result)],
                env=env,
                cwd=REPO_ROOT,
                check=True,
                capture_output=True,
                timeout=60,
            )
            if run:
                runs.append(json.loads(result.read_text()))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def package_size() -> tuple[int, int]:
    """(unzipped, zipped) bytes of the Lambda package: the requirements installed for Lambda
    (arm64, CPython 3.14) as the bundler installs them, minus what the runtime provides, plus
    the api package."""
    deps = lambda_dependencies(
        API_PACKAGE / "requirements.txt",
        runtime=PYTHON_RUNTIME,
        architecture=ARCHITECTURE,
        cache_dir=BUNDLE_CACHE_DIR,
    )
    files = [(path, path.relative_to(deps)) for path in deps.rglob("*") if path.is_file()]
    files += [
        (path, Path("api") / path.relative_to(API_PACKAGE))
        for path in API_PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    unzipped = sum(path.stat().st_size for path, _ in files)
    with tempfile.TemporaryFile() as raw:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, arcname in files:
                archive.write(path, arcname.as_posix())
        zipped = raw.tell()
    return unzipped, zipped


Row = tuple[str, str, str, str]


def rows_of(
    comparisons: list[Comparison],
    cold: dict[str, float],
    cold_no_pyc: dict[str, float],
    size: tuple[int, int],
) -> list[Row]:
    """The benchmark's figures as (metric, handler, direct SQL, handler/direct) rows."""
    rows: list[Row] = []
    for c in comparisons:
        h, d = c.handler, c.direct
        rows += [
            (
                f"{c.name} p50 (ms)",
                f"{h.p50_ms:.3f}",
                f"{d.p50_ms:.3f}",
                f"{h.p50_ms / d.p50_ms:.1f}x",
            ),
            (
                f"{c.name} p99 (ms)",
                f"{h.p99_ms:.3f}",
                f"{d.p99_ms:.3f}",
                f"{h.p99_ms / d.p99_ms:.1f}x",
            ),
            (
                f"{c.name} requests/s",
                f"{h.per_second:,.0f}",
                f"{d.per_second:,.0f}",
                f"{h.per_second / d.per_second:.2f}x",
            ),
        ]
    for label, result in (("cold init", cold), ("cold init, no .pyc", cold_no_pyc)):
        total = result["import_ms"] + result["first_ms"]
        rows += [
            (f"{label}: import (ms)", f"{result['import_ms']:.0f}", "", ""),
            (f"{label}: first request (ms)", f"{result['first_ms']:.1f}", "", ""),
            (f"{label}: total (ms)", f"{total:.0f}", "", ""),
        ]
    unzipped, zipped = size
    rows += [
        ("Lambda package unzipped (MB)", f"{unzipped / 1e6:.1f}", "", ""),
        ("Lambda package zipped (MB)", f"{zipped / 1e6:.1f}", "", ""),
    ]
    return rows


def caption(count: int) -> str:
    return (
        f"items API: {count} requests per row after {WARM_UP} warm-up; PostgreSQL 16 on a Unix"
        f" socket; cold init = median of {COLD_RUNS} fresh interpreters (Python"
        f" {sys.version_info.major}.{sys.version_info.minor} here, 3.14 on Lambda)"
    )


def render(header: Row, rows: list[Row], captions: list[str]) -> str:
    """A Markdown table under its captions."""
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = list(captions)
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def run(count: int) -> list[Row]:
    """Everything the API benchmark measures, as rows."""
    if str(LAMBDA_SRC) not in sys.path:
        sys.path.insert(0, str(LAMBDA_SRC))  # the Lambda packages import as in their zip

    size = package_size()  # first: the only step that may need the package index
    with postgres() as uri:
        migrate(uri)
        environment = api_environment(uri)
        os.environ.update(environment)
        with psycopg.connect(uri, autocommit=True) as admin:
            row = admin.execute("INSERT INTO items (name) VALUES ('cold') RETURNING id").fetchone()
        assert row is not None
        cold = cold_starts(environment, str(row[0]), with_pyc=True)
        cold_no_pyc = cold_starts(environment, str(row[0]), with_pyc=False)
        # The handler logs a line per request and EMF metrics for writes: kept, but not shown.
        with Path(os.devnull).open("w") as devnull, contextlib.redirect_stdout(devnull):
            from api import handler

            stream = cast("logging.StreamHandler[Any]", handler.logger.registered_handler)
            stream.setStream(devnull)
            comparisons = warm_benchmarks(uri, count)
    return rows_of(comparisons, cold, cold_no_pyc, size)


HEADER: Row = ("metric", "handler", "direct SQL", "handler/direct")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per row")
    args = parser.parse_args()
    print(render(HEADER, run(args.requests), [caption(args.requests)]))


if __name__ == "__main__":
    main()
