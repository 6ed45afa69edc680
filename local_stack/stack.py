"""All three tiers on localhost, with no AWS: a real database with the migrations applied
(PostgreSQL, or the MySQL family with ``ENGINE=mysql``: `local_stack.database`), the API handler
over HTTP behind a local token check, a stand-in for Cognito's token endpoint, DynamoDB from
moto's server, and the web app pointed at them."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import uvicorn
from moto.server import ThreadedMotoServer

from api.routes import ApiScope
from devkit.events import STAGE, FakeRds
from local_stack.api_server import api_app
from local_stack.database import POSTGRESQL, local_database
from local_stack.token_server import TOKEN_PATH, AppClient, token_app
from local_stack.tokens import TokenSigner

HOST = "127.0.0.1"
REGION = "us-east-1"
SESSION_TABLE = "local-sessions"
WEB_CLIENT_ID = "local-web"
READ_ONLY_CLIENT_ID = "local-reader"
ALL_SCOPES = frozenset(scope.token_scope for scope in ApiScope)


@dataclass(frozen=True)
class LocalStack:
    web_url: str
    api_url: str
    token_url: str
    dynamodb_url: str
    conninfo: str
    """The database as its administrator (to look at rows): a libpq conninfo for PostgreSQL,
    a ``mysql://`` URL for MySQL."""
    database: str
    """The database, in one line."""
    session_table: str
    clients: dict[str, str]
    """Client id -> secret: the web app's client (both scopes) and a read-only one."""

    def dynamodb_table(self) -> Any:
        return boto3.resource("dynamodb", endpoint_url=self.dynamodb_url, region_name=REGION).Table(
            self.session_table
        )

    def access_token(self, client_id: str, scopes: str = "") -> str:
        """A token from the local token endpoint, as that client gets one (all of its scopes
        when ``scopes`` is empty)."""
        response = httpx.post(
            self.token_url,
            auth=(client_id, self.clients[client_id]),
            data={"grant_type": "client_credentials", "scope": scopes},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class _Server(threading.Thread):
    """A uvicorn server on a thread, stopped on exit."""

    def __init__(self, app: Any, port: int) -> None:
        super().__init__(daemon=True)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off")
        )

    def run(self) -> None:
        self.server.run()

    def __enter__(self) -> _Server:
        self.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.is_alive():
                raise RuntimeError("a local server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.join(timeout=5)


def _api_environment(database: dict[str, str]) -> dict[str, str]:
    """The function's settings, as the API stack sets them, with the local database's."""
    return {
        **database,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",  # moto only
        "POWERTOOLS_METRICS_NAMESPACE": "local",
    }


@contextlib.contextmanager
def running(conninfo: str | None = None, *, engine: str = POSTGRESQL) -> Iterator[LocalStack]:
    """Starts everything (a new database of `engine`'s family unless ``conninfo`` names an
    empty PostgreSQL database) and stops it all on exit."""
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(local_database(engine, conninfo))
        environment = _api_environment(database.environment)
        stack.callback(_restore, {name: os.environ.get(name) for name in environment})
        os.environ.update(environment)

        from api import db

        # The function signs an RDS IAM token for its login; the local server takes a fixed
        # one instead (PostgreSQL trusts its Unix socket, MySQL has it as app_api's password),
        # so the signer, the one seam the tests replace too, hands that one out.
        original_signer = db.IamTokenSigner
        db.IamTokenSigner = lambda **_: FakeRds()  # type: ignore[assignment,misc]
        stack.callback(setattr, db, "IamTokenSigner", original_signer)
        db.reset()
        stack.callback(db.reset)

        dynamodb_port = free_port()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
        moto = ThreadedMotoServer(ip_address=HOST, port=dynamodb_port, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        dynamodb_url = f"http://{HOST}:{dynamodb_port}"
        boto3.client("dynamodb", endpoint_url=dynamodb_url, region_name=REGION).create_table(
            TableName=SESSION_TABLE,
            AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )

        signer = TokenSigner(secrets.token_bytes(32))
        clients = {WEB_CLIENT_ID: secrets.token_urlsafe(16), READ_ONLY_CLIENT_ID: "read-only"}
        token_port, api_port, web_port = free_port(), free_port(), free_port()
        stack.enter_context(
            _Server(
                token_app(
                    signer,
                    {
                        WEB_CLIENT_ID: AppClient(clients[WEB_CLIENT_ID], ALL_SCOPES),
                        READ_ONLY_CLIENT_ID: AppClient(
                            clients[READ_ONLY_CLIENT_ID],
                            frozenset({ApiScope.ITEMS_READ.token_scope}),
                        ),
                    },
                ),
                token_port,
            )
        )
        stack.enter_context(_Server(api_app(signer), api_port))
        token_url = f"http://{HOST}:{token_port}{TOKEN_PATH}"
        api_url = f"http://{HOST}:{api_port}/{STAGE}/"

        from web_app.app import create_app
        from web_app.settings import Settings

        web = create_app(
            Settings(
                api_client_id=WEB_CLIENT_ID,
                api_client_secret=clients[WEB_CLIENT_ID],
                api_token_url=token_url,
                api_scopes=" ".join(sorted(ALL_SCOPES)),
                api_base_url=api_url,
                session_table=SESSION_TABLE,
                dynamodb_endpoint_url=dynamodb_url,
            )
        )
        stack.enter_context(_Server(web, web_port))
        yield LocalStack(
            web_url=f"http://{HOST}:{web_port}/",
            api_url=api_url,
            token_url=token_url,
            dynamodb_url=dynamodb_url,
            conninfo=database.url,
            database=database.description,
            session_table=SESSION_TABLE,
            clients=clients,
        )


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
