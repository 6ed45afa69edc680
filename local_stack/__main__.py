"""``make local``: run the three tiers on localhost until Ctrl-C."""

from __future__ import annotations

import signal
import threading

from local_stack.stack import running


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with running() as stack:
        print(f"web app:        {stack.web_url}", flush=True)
        print(f"items API:      {stack.api_url}  (Bearer token from the endpoint below)")
        print(f"token endpoint: {stack.token_url}  (client-credentials grant)")
        print(f"DynamoDB:       {stack.dynamodb_url}  (table {stack.session_table})")
        print("Ctrl-C stops everything.", flush=True)
        stop.wait()
    print("stopped.")


if __name__ == "__main__":
    main()
