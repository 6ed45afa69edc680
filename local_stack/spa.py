"""``make local`` for the S3M shape (``python -m local_stack --shape spa``): the single-page app
and ``/api/*`` on one origin (``gateway``, as CloudFront), the REAL Lambda authorizer in front of
the two reference services (``services/items`` on a real database with the migrations, as
``make local``'s: PostgreSQL, or the MySQL family with ``ENGINE=mysql``,
``services/me``), a stand-in for Cognito's managed login (``oidc_issuer``), and the role table
and the client-ids SSM parameter in moto's server. No AWS, no containers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import boto3
from moto.server import ThreadedMotoServer

from devkit.events import FakeRds
from local_stack.database import POSTGRESQL, local_database
from local_stack.gateway import Gateway, site_config
from local_stack.oidc_issuer import Client, Issuer, User
from local_stack.stack import HOST, REGION, _api_environment, _restore, _Server, free_port

CLIENT_ID = "local-spa"


class Role(StrEnum):
    ADMIN = "admin"
    READER = "reader"


ROUTE_ROLES = {
    "GET /items": [Role.READER, Role.ADMIN],
    "* /items": [Role.ADMIN],
    "GET /me": [Role.READER, Role.ADMIN],
}
"""Readers list and read items; admins do everything; both may ask who they are."""


@dataclass(frozen=True)
class SpaStack:
    site_url: str
    """The one origin, ending in ``/`` (the client's callback and logout URL)."""
    issuer: Issuer
    conninfo: str
    """The database as its administrator (to look at rows; see `LocalStack.conninfo`)."""
    database: str
    """The database, in one line."""
    users: dict[Role, User]
    moto_url: str
    role_table: str


@dataclass(frozen=True)
class _Names:
    """The role table and the client-ids parameter of one run: moto keeps its state per
    process, so a second stack in the same process (tests) gets its own."""

    role_table: str
    client_ids_parameter: str

    @classmethod
    def new(cls) -> _Names:
        run = secrets.token_hex(3)
        return cls(f"local-roles-{run}", f"/local/{run}/sign-in/client-ids")


def _seed(moto_url: str, names: _Names, users: dict[Role, User]) -> None:
    """The role table with each user's roles, and the client ids parameter the web stack
    writes, as the deployed stages have them."""
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
    dynamodb.create_table(
        TableName=names.role_table,
        AttributeDefinitions=[{"AttributeName": "subject", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "subject", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for role, user in users.items():
        dynamodb.put_item(
            TableName=names.role_table,
            Item={
                "subject": {"S": user.subject},
                "roles": {"SS": [role.value]},
                "username": {"S": user.username},
            },
        )
    ssm = boto3.client("ssm", endpoint_url=moto_url, region_name=REGION)
    ssm.put_parameter(Name=names.client_ids_parameter, Value=CLIENT_ID, Type="String")


def _environment(
    database: dict[str, str], issuer_url: str, moto_url: str, names: _Names
) -> dict[str, str]:
    """The items service's DB_* settings (as the Lambda's) and the authorizer's settings."""
    return {
        **_api_environment(database),
        "POWERTOOLS_TRACE_DISABLED": "1",
        "ISSUER": issuer_url,
        "CLIENT_IDS_PARAMETER": names.client_ids_parameter,
        "ROLE_TABLE": names.role_table,
        "ROUTE_ROLES": json.dumps(ROUTE_ROLES),
        "AWS_ENDPOINT_URL": moto_url,
    }


@contextlib.contextmanager
def running_spa(conninfo: str | None = None, *, engine: str = POSTGRESQL) -> Iterator[SpaStack]:
    """Starts everything (a new database of `engine`'s family unless ``conninfo`` names an
    empty PostgreSQL database) and stops it all on exit."""
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(local_database(engine, conninfo))
        moto_port, issuer_port, site_port, items_port, me_port = (free_port() for _ in range(5))
        moto_url, issuer_url = f"http://{HOST}:{moto_port}", f"http://{HOST}:{issuer_port}"
        site_url = f"http://{HOST}:{site_port}/"

        names = _Names.new()
        environment = _environment(database.environment, issuer_url, moto_url, names)
        stack.callback(_restore, {name: os.environ.get(name) for name in environment})
        os.environ.update(environment)

        from api import db
        from authorizer import aws as authorizer_aws
        from authorizer.handler import lambda_handler as authorizer

        # The IAM-token seam, as local_stack.stack replaces it: the fixed token signs in.
        original_signer = db.IamTokenSigner
        db.IamTokenSigner = lambda **_: FakeRds()  # type: ignore[assignment,misc]
        stack.callback(setattr, db, "IamTokenSigner", original_signer)
        db.reset()
        stack.callback(db.reset)
        authorizer_aws.reset()  # boto3 clients made for another moto server
        stack.callback(authorizer_aws.reset)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
        moto = ThreadedMotoServer(ip_address=HOST, port=moto_port, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        users = {
            role: User(username=role.value, password=secrets.token_urlsafe(12)) for role in Role
        }
        _seed(moto_url, names, users)

        issuer = Issuer(
            issuer_url,
            [Client(CLIENT_ID, frozenset({site_url}), frozenset({site_url}))],
            list(users.values()),
        )
        from services.items.app import create_app as items_app
        from services.me.app import create_app as me_app

        gateway = Gateway(
            site_config=site_config(CLIENT_ID, issuer_url),
            services={"items": f"http://{HOST}:{items_port}", "me": f"http://{HOST}:{me_port}"},
            sign_in_origin=issuer_url,
            authorizer=authorizer,
            region=REGION,
        )
        for app, port in (
            (issuer.app(), issuer_port),
            (items_app(), items_port),
            (me_app(), me_port),
            (gateway.app(), site_port),
        ):
            stack.enter_context(_Server(app, port))
        yield SpaStack(
            site_url=site_url,
            issuer=issuer,
            conninfo=database.url,
            database=database.description,
            users=users,
            moto_url=moto_url,
            role_table=names.role_table,
        )


def banner(spa: SpaStack) -> str:
    sign_ins = [
        f"  as {role.value:<6}  username {user.username!r}  password {user.password!r}"
        for role, user in spa.users.items()
    ]
    return "\n".join(
        [
            f"site:      {spa.site_url}  (the app, and its API under /api/)",
            f"sign-in:   {spa.issuer.url}  (local stand-in for Cognito's managed login)",
            f"roles:     DynamoDB {spa.moto_url} table {spa.role_table}",
            f"database:  {spa.database}",
            "",
            f"Open {spa.site_url}, choose Sign in, then sign in",
            *sign_ins,
            "(admin: list, add and edit items; reader: list only, a write is refused with 403)",
            "",
            "Ctrl-C stops everything.",
        ]
    )


def main(engine: str = POSTGRESQL) -> None:
    """As ``local_stack.__main__.main``: a signal only sets a flag, read between sleeps."""
    received: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: received.append(number))
    with running_spa(engine=engine) as spa:
        print(banner(spa), flush=True)
        while not received:
            time.sleep(0.1)
    print("stopped.")
