"""Items API benchmark: the Lambda handler against the same SQL sent directly, on PostgreSQL and
on the MySQL family.

Starts its own database of each family (`local_stack.database`: pgserver on a Unix socket; the
local MariaDB, or MySQL 8, over TCP with TLS on loopback), applies the migrations, and drives
the real handler as `app_api` with only the IAM token faked. For GET /items/{id} and POST /items
it reports p50/p99 latency and requests/s through the handler and for the handler's own SQL on
the handler's own connection (so the ratio is the cost of routing, validation, JSON, logging and
metrics). The MySQL family's rows are marked "MySQL:". `bench.cold_start` measures the cold
start and the Lambda package's size (its table follows this one's).

    .venv/bin/python -m bench.api_bench [--requests N] [--engine postgresql|mysql]
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from devkit.events import FakeRds, lambda_context, rest_event

if TYPE_CHECKING:
    from local_stack.database import LocalDatabase

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


def seed(database: LocalDatabase, count: int) -> list[uuid.UUID]:
    """`count` items inserted directly (the server's clock for their times); their ids."""
    ids = [uuid.uuid4() for _ in range(count)]
    with database.admin() as admin, admin.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO items (id, name, description) VALUES (%s, %s, %s)",
            [(str(item_id), f"seed {n}", "x" * 200) for n, item_id in enumerate(ids)],
        )
    return ids


def warm_benchmarks(database: LocalDatabase, count: int) -> list[Comparison]:
    from api import db, handler, items

    # The local server takes a fixed token (see local_stack.database): one is still asked for.
    db.IamTokenSigner = lambda **_: FakeRds()  # type: ignore[assignment,misc]
    ids = seed(database, SEED_ITEMS)
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

    shared = db.database()
    conn = shared.connection
    assert conn is not None
    session = shared.dialect.session(conn, shared.settings.statement_timeout_ms)
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


def rows_of(comparisons: list[Comparison], label: str = "") -> list[Row]:
    """The benchmark's figures as (metric, handler, direct SQL, handler/direct) rows, each
    metric after `label`."""
    rows: list[Row] = []
    for c in comparisons:
        h, d = c.handler, c.direct
        rows += [
            (
                f"{label}{c.name} p50 (ms)",
                f"{h.p50_ms:.3f}",
                f"{d.p50_ms:.3f}",
                f"{h.p50_ms / d.p50_ms:.1f}x",
            ),
            (
                f"{label}{c.name} p99 (ms)",
                f"{h.p99_ms:.3f}",
                f"{d.p99_ms:.3f}",
                f"{h.p99_ms / d.p99_ms:.1f}x",
            ),
            (
                f"{label}{c.name} requests/s",
                f"{h.per_second:,.0f}",
                f"{d.per_second:,.0f}",
                f"{h.per_second / d.per_second:.2f}x",
            ),
        ]
    return rows


def caption(count: int) -> str:
    return (
        f"items API: {count} requests per row after {WARM_UP} warm-up; PostgreSQL 16 on a Unix"
        " socket, MySQL: the local MariaDB (or MySQL 8) over TCP and TLS on loopback"
        f" (Python {sys.version_info.major}.{sys.version_info.minor} here, 3.14 on Lambda)"
    )


LABELS = {"postgresql": "", "mysql": "MySQL: "}
"""Each engine family's metrics' prefix (PostgreSQL's rows keep their names)."""


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ meanwhile, as the function's environment."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def run(count: int, engines: tuple[str, ...] = tuple(LABELS)) -> list[Row]:
    """Everything the API benchmark measures, as rows, for each engine family."""
    if str(LAMBDA_SRC) not in sys.path:
        sys.path.insert(0, str(LAMBDA_SRC))  # the Lambda packages import as in their zip
    from local_stack.database import local_database

    rows: list[Row] = []
    # The handler logs a line per request and EMF metrics for writes: kept, but not shown.
    with Path(os.devnull).open("w") as devnull, contextlib.redirect_stdout(devnull):
        for engine in engines:
            with local_database(engine) as database, environment(database.environment):
                from api import handler  # once the environment names the metrics' namespace

                stream = cast("logging.StreamHandler[Any]", handler.logger.registered_handler)
                stream.setStream(devnull)
                rows += rows_of(warm_benchmarks(database, count), LABELS[engine])
    return rows


HEADER: Row = ("metric", "handler", "direct SQL", "handler/direct")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per row")
    parser.add_argument("--engine", choices=list(LABELS), help="one engine family only")
    args = parser.parse_args()
    engines = (args.engine,) if args.engine else tuple(LABELS)
    print(render(HEADER, run(args.requests, engines), [caption(args.requests)]))
    from bench import cold_start

    cold_caption = (cold_start.__doc__ or "").splitlines()[0]
    print(render(("metric", "value", "target", "ratio"), cold_start.rows(), [cold_caption]))


if __name__ == "__main__":
    main()
