"""Items API benchmark: the Lambda handler against the same SQL sent directly, on PostgreSQL.

Starts its own PostgreSQL (pgserver, Unix socket), applies the migrations, and drives the real
handler as `app_api` with only the IAM token faked. For GET /items/{id} and POST /items it
reports p50/p99 latency and requests/s through the handler and for the handler's own SQL on the
handler's own connection (so the ratio is the cost of routing, validation, JSON, logging and
metrics). `bench.cold_start` measures the cold start and the Lambda package's size (its table
follows this one's).

    .venv/bin/python -m bench.api_bench [--requests N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psycopg

from devkit.api_env import api_environment
from devkit.events import FakeRds, lambda_context, rest_event
from devkit.migrations import migrate
from devkit.postgres import postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SRC = REPO_ROOT / "lambda_src"

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


@dataclass(frozen=True)
class Comparison:
    name: str
    handler: Timings
    direct: Timings


def warm_benchmarks(uri: str, count: int) -> list[Comparison]:
    from api import db, handler, items

    # The local server trusts its socket: any token will do, as long as one is asked for.
    db.IamTokenSigner = lambda **_: FakeRds()  # type: ignore[assignment,misc]
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


Row = tuple[str, str, str, str]


def rows_of(comparisons: list[Comparison]) -> list[Row]:
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
    return rows


def caption(count: int) -> str:
    return (
        f"items API: {count} requests per row after {WARM_UP} warm-up; PostgreSQL 16 on a Unix"
        f" socket (Python {sys.version_info.major}.{sys.version_info.minor} here, 3.14 on Lambda)"
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

    with postgres() as uri:
        migrate(uri)
        os.environ.update(api_environment(uri))
        # The handler logs a line per request and EMF metrics for writes: kept, but not shown.
        with Path(os.devnull).open("w") as devnull, contextlib.redirect_stdout(devnull):
            from api import handler

            stream = cast("logging.StreamHandler[Any]", handler.logger.registered_handler)
            stream.setStream(devnull)
            comparisons = warm_benchmarks(uri, count)
    return rows_of(comparisons)


HEADER: Row = ("metric", "handler", "direct SQL", "handler/direct")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per row")
    args = parser.parse_args()
    print(render(HEADER, run(args.requests), [caption(args.requests)]))
    from bench import cold_start

    cold_caption = (cold_start.__doc__ or "").splitlines()[0]
    print(render(("metric", "value", "target", "ratio"), cold_start.rows(), [cold_caption]))


if __name__ == "__main__":
    main()
