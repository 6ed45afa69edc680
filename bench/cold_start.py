"""Run by api_bench in a fresh interpreter: times importing the handler and its first request.

Usage: python -m bench.cold_start ITEM_ID RESULT_FILE (the database environment already set).
Times are taken inside this process, so interpreter start-up is not counted, as Lambda's Init
Duration does not count the runtime's own start either.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path


def main() -> None:
    item_id, result_file = sys.argv[1:3]
    started = time.perf_counter()
    handler = importlib.import_module("api.handler")
    imported = time.perf_counter()

    import boto3

    from bench.events import FakeRds, fake_boto3_client, lambda_context, rest_event

    boto3.client = fake_boto3_client(FakeRds())
    event, context = rest_event("GET", f"/items/{item_id}"), lambda_context()
    prepared = time.perf_counter()
    response = handler.lambda_handler(event, context)
    answered = time.perf_counter()
    if response["statusCode"] != 200:
        raise SystemExit(f"the first request failed: {response}")
    Path(result_file).write_text(
        json.dumps(
            {"import_ms": (imported - started) * 1000, "first_ms": (answered - prepared) * 1000}
        )
    )


if __name__ == "__main__":
    main()
