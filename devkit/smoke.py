"""The items API's read/write smoke: health, create, read, list, update with the version read, a
stale update, delete and a read after it, each with the status it must get.

One copy for everyone: tests/test_api_smoke.py runs it against this code, and
``migration_check`` runs it against the release still serving, with that release's own copy when
it has one (``python -m devkit.smoke RESULT_FILE`` with its ``lambda_src`` on the path). That
command line and its JSON result are an interface between releases: change them compatibly.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

NAME = "smoke item"
RENAMED = "smoke item, renamed"
DESCRIPTION = "written by devkit.smoke"
POWERTOOLS_DEFAULTS = {
    "POWERTOOLS_SERVICE_NAME": "items-api",
    "POWERTOOLS_METRICS_NAMESPACE": "smoke",
    "POWERTOOLS_TRACE_DISABLED": "1",
}
"""Read when the handler module is imported: no X-Ray daemon here, and metrics need a namespace."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Mapping[str, Any] | None = None
    query: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


Send = Callable[[Request], Reply]
"""One request to the API, as API Gateway would pass it on, and the function's answer."""
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class SmokeError(Exception):
    """A call got another status than expected, or a body that says the write was lost."""

    def __init__(self, call: str, expected: int, reply: Reply, problem: str = "") -> None:
        self.call = call
        self.expected = expected
        self.reply = reply
        self.problem = problem
        """What was wrong with an answer of the expected status; empty when the status was."""
        wrong = problem or f"expected {expected}, got {reply.status}"
        super().__init__(f"{call}: {wrong}; body: {reply.text[:300]}")


def run_smoke(send: Send) -> int:
    """Runs the calls in order on an `items` table of any content; returns how many were made.
    Raises SmokeError at the first unexpected answer; the item is deleted again on success."""
    made = 0

    def call(label: str, request: Request, expected: int, template: str = "") -> Any:
        nonlocal made
        reply = send(request)
        made += 1
        name = f"{request.method} {template or request.path} ({label})"
        if reply.status != expected:
            raise SmokeError(name, expected, reply)
        body = reply.json()

        def require(condition: bool, problem: str) -> None:
            if not condition:
                raise SmokeError(name, expected, reply, problem)

        return body, require

    health, require = call("health", Request("GET", "/health"), 200)
    require(health.get("status") == "ok", "the database did not answer")

    new = {"name": NAME, "description": DESCRIPTION}
    created, require = call("create", Request("POST", "/items", new), 201)
    require(
        (created["name"], created["version"]) == (NAME, 1),
        "it answered another item than the one sent",
    )
    item = f"/items/{created['id']}"

    read, require = call("read", Request("GET", item), 200, "/items/{id}")
    require(read == created, "it answered another item than the one created")

    listed, require = call("list", Request("GET", "/items", query={"limit": "100"}), 200)
    require(isinstance(listed.get("items"), list), "its page has no items list")
    page = listed
    while created["id"] not in {row["id"] for row in page["items"]} and page["next_cursor"]:
        query = {"limit": "100", "cursor": page["next_cursor"]}
        page, require = call("list, next page", Request("GET", "/items", query=query), 200)
    require(created["id"] in {row["id"] for row in page["items"]}, "the new item is not listed")

    change = {"name": RENAMED, "description": DESCRIPTION, "version": 1}
    updated, require = call("update, version 1", Request("PUT", item, change), 200, "/items/{id}")
    require((updated["name"], updated["version"]) == (RENAMED, 2), "the update was not stored")

    stale = Request("PUT", item, change)
    conflict, require = call("update, stale version 1", stale, 409, "/items/{id}")
    require(conflict["error"]["code"] == "VERSION_CONFLICT", "the 409 is not a VERSION_CONFLICT")

    call("delete", Request("DELETE", item), 204, "/items/{id}")
    call("read after delete", Request("GET", item), 404, "/items/{id}")
    return made


def handler_sender(lambda_handler: LambdaHandler) -> Send:
    """Calls the function in this process with the event the Cognito-authorized stage sends."""
    from devkit.events import lambda_context, proxy_event

    def send(request: Request) -> Reply:
        is_item = request.path.startswith("/items/")
        event = proxy_event(
            request.method,
            request.path,
            resource="/items/{id}" if is_item else request.path,
            path_parameters={"id": request.path.rsplit("/", 1)[1]} if is_item else None,
            body=None if request.body is None else json.dumps(request.body),
            headers={"Content-Type": "application/json"},
            query=dict(request.query) if request.query else None,
            claims={"client_id": "smoke", "scope": "items/read items/write"},
        )
        raw = lambda_handler(event, lambda_context())
        return Reply(int(raw["statusCode"]), raw.get("body") or "")

    return send


def last_error(log: str) -> str:
    """What the handler last logged going wrong (Powertools JSON lines): an exception's final
    line, else a warning or error with the constraint or error it names."""
    exception, warning = "", ""
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if record.get("exception"):
            exception = str(record["exception"]).strip().splitlines()[-1]
        elif record.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            named = [f"{key} {record[key]}" for key in ("constraint", "error") if record.get(key)]
            warning = str(record.get("message", "")) + (f" ({', '.join(named)})" if named else "")
    return exception or warning


def main(argv: list[str]) -> int:
    """``python -m devkit.smoke RESULT_FILE``: the smoke against the `api` package on the path,
    signed in as the DB_* environment says (``devkit.api_env``) with a fake IAM token; writes
    ``{"calls": N, "failure": null | {"call", "expected", "status", "problem", "body",
    "error"}}``."""
    if len(argv) != 1:
        print("usage: python -m devkit.smoke RESULT_FILE", file=sys.stderr)
        return 2
    for name, value in POWERTOOLS_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from api import db, handler
    from devkit.events import FakeRds

    # The local server trusts its socket: any token will do, as long as one is asked for.
    db.IamTokenSigner = lambda **_: FakeRds()  # type: ignore[assignment,misc]
    log = io.StringIO()
    cast("logging.StreamHandler[Any]", handler.logger.registered_handler).setStream(log)
    db.reset()
    result: dict[str, Any] = {"calls": 0, "failure": None}
    try:
        result["calls"] = run_smoke(handler_sender(handler.lambda_handler))
    except SmokeError as failure:
        result["failure"] = {
            "call": failure.call,
            "expected": failure.expected,
            "status": failure.reply.status,
            "problem": failure.problem,
            "body": failure.reply.text[:300],
            "error": last_error(log.getvalue()),
        }
    finally:
        db.reset()
    Path(argv[0]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
