"""``make local``: run the three tiers on localhost until Ctrl-C, and say how to call them."""

from __future__ import annotations

import json
import shlex
import signal
import time

from api.routes import ApiScope
from local_stack.database import POSTGRESQL
from local_stack.stack import READ_ONLY_CLIENT_ID, WEB_CLIENT_ID, LocalStack, running
from local_stack.token_server import TOKEN_LIFETIME_SECONDS


def banner(stack: LocalStack) -> str:
    """The URLs, a ready-to-paste curl line with a write-scoped token, and the read-only
    client's credentials (to mint a read token and see a write refused)."""
    scopes = " ".join(scope.token_scope for scope in ApiScope)
    token = stack.access_token(WEB_CLIENT_ID, scopes)
    add_item = shlex.join(
        [
            "curl", "-s",
            "-H", f"Authorization: Bearer {token}",
            "-H", "Content-Type: application/json",
            "-d", json.dumps({"name": "from curl", "description": "added by hand"}),
            f"{stack.api_url}items",
        ]
    )  # fmt: skip
    reader_secret = stack.clients[READ_ONLY_CLIENT_ID]
    read_token = shlex.join(
        [
            "curl", "-s",
            "-u", f"{READ_ONLY_CLIENT_ID}:{reader_secret}",
            "-d", "grant_type=client_credentials",
            stack.token_url,
        ]
    )  # fmt: skip
    return "\n".join(
        [
            f"web app:        {stack.web_url}",
            f"items API:      {stack.api_url}  (Bearer token from the endpoint below)",
            f"token endpoint: {stack.token_url}  (client-credentials grant, HTTP basic auth)",
            f"DynamoDB:       {stack.dynamodb_url}  (table {stack.session_table})",
            f"database:       {stack.database}",
            "",
            f"Add an item (token with {scopes}, valid {TOKEN_LIFETIME_SECONDS // 60} minutes):",
            f"  {add_item}",
            "",
            f"Read-only client ({ApiScope.ITEMS_READ.token_scope}):"
            f" id {READ_ONLY_CLIENT_ID}, secret {reader_secret}, token URL {stack.token_url}",
            f"  {read_token}",
            "",
            "Ctrl-C stops everything.",
        ]
    )


def main(engine: str = POSTGRESQL) -> None:
    # A handler runs in the main thread between two bytecodes, possibly while that thread holds
    # a lock (threading.Event.set() there can deadlock), so it only records the signal. A Ctrl-C
    # during start-up stops everything once it is up; more of them during shutdown do nothing.
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: received.append(number))
    with running(engine=engine) as stack:
        print(banner(stack), flush=True)
        while not received:
            time.sleep(0.1)
    print("stopped.")


if __name__ == "__main__":
    import os
    import sys

    from local_stack import spa
    from local_stack.options import Shape, requested

    shape, engine = requested(sys.argv[1:], os.environ)
    if shape is Shape.SPA:
        spa.main(engine)
    else:
        main(engine)
