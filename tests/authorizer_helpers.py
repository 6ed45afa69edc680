"""What the authorizer tests share: real RSA keys and tokens signed with PyJWT, a JWKS served
by a local HTTP server on 127.0.0.1 (which counts its fetches and can hang), the role table and
the SSM parameter in moto, and the function's environment. No test here."""

from __future__ import annotations

import base64
import fnmatch
import functools
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from authorizer import aws, tokens
from authorizer.handler import lambda_handler
from authorizer.reasons import Reason
from tests.preflight_helpers import fake_aws as fake_aws  # moto answers every AWS call

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
CLIENT_ID = "browser-client-1"
OTHER_CLIENT_ID = "other-client-9"
KID = "key-1"
ROLE_TABLE = "three-tier-spa-roles"
PARAMETER = "/three-tier/spa/sign-in/client-ids"
ROUTE_ROLES = {"GET /items": ["reader", "admin"], "* /items": ["admin"], "GET /me": ["reader"]}
STAGE_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/api"
GET_ITEM = f"{STAGE_ARN}/GET/items/42"
DELETE_ITEM = f"{STAGE_ARN}/DELETE/items/42"
GET_ME = f"{STAGE_ARN}/GET/me"
ALICE = "11111111-2222-3333-4444-555555555555"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = new_key()
"""The user pool's key (one per test session: generating RSA keys is slow)."""
OTHER_KEY = new_key()


def jwks(*keys: tuple[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    """A JWKS as Cognito publishes it: the public halves, each with kid, alg and use."""
    entries = []
    for kid, key in keys:
        entry = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        entries.append(entry | {"kid": kid, "alg": "RS256", "use": "sig"})
    return {"keys": entries}


def claims(**overrides: Any) -> dict[str, Any]:
    """A Cognito access token's claims for ALICE; ``None`` in ``overrides`` drops a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": ALICE,
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "token_use": "access",
        "scope": "openid email profile",
        "username": "alice",
        "iat": now,
        "auth_time": now,
        "exp": now + 3600,
        "jti": "jti-1",
    }
    merged = base | overrides
    return {key: value for key, value in merged.items() if value is not None}


def token(
    *,
    key: rsa.RSAPrivateKey | str = SIGNING_KEY,
    kid: str | None = KID,
    algorithm: str = "RS256",
    **overrides: Any,
) -> str:
    """A token signed with PyJWT (``key`` is the RSA key; any HMAC secret for HS256)."""
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims(**overrides), key, algorithm=algorithm, headers=headers)


def unsigned_token(**overrides: Any) -> str:
    """``alg: none``, built by hand: PyJWT refuses to make one with a kid."""
    header = {"alg": "none", "typ": "JWT", "kid": KID}
    return f"{_b64(header)}.{_b64(claims(**overrides))}."


def tampered(signed: str, **changes: Any) -> str:
    """``signed`` with its payload changed and its signature kept."""
    head, payload, signature = signed.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{head}.{_b64(body | changes)}.{signature}"


def _b64(value: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@dataclass
class JwksServer:
    """The pool's JWKS endpoint on 127.0.0.1: ``fetches`` counts requests; ``hang`` makes it
    accept and never answer (until the test ends)."""

    document: dict[str, Any]
    fetches: int = 0
    hang: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/.well-known/jwks.json"

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                if owner.hang:
                    owner.released.wait(30)
                    return
                body = json.dumps(owner.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        serve = functools.partial(self.server.serve_forever, poll_interval=0.05)
        threading.Thread(target=serve, daemon=True).start()

    def stop(self) -> None:
        self.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer(jwks((KID, SIGNING_KEY)))
    server.start()
    yield server
    server.stop()


@dataclass
class Authorizer:
    """The function with its environment: a role table, the JWKS server, the route map."""

    monkeypatch: pytest.MonkeyPatch
    jwks: JwksServer
    lines: list[dict[str, Any]] = field(default_factory=list)
    """The function's log lines (JSON), in order."""

    def grant(self, sub: str, *roles: str, username: str = "alice") -> None:
        item = {"subject": {"S": sub}, "username": {"S": username}, "roles": {"SS": list(roles)}}
        boto3.client("dynamodb").put_item(TableName=ROLE_TABLE, Item=item)

    def setenv(self, name: str, value: str | None) -> None:
        if value is None:
            self.monkeypatch.delenv(name, raising=False)
        else:
            self.monkeypatch.setenv(name, value)

    def token_event(self, authorization: object, arn: str = GET_ITEM) -> dict[str, Any]:
        return {"type": "TOKEN", "authorizationToken": authorization, "methodArn": arn}

    def request_event(self, headers: object, arn: str = GET_ITEM) -> dict[str, Any]:
        return {"type": "REQUEST", "methodArn": arn, "headers": headers, "httpMethod": "GET"}

    def call(self, event: object) -> dict[str, Any]:
        return lambda_handler(event, None)

    def call_with(self, authorization: object, arn: str = GET_ITEM) -> dict[str, Any]:
        return self.call(self.token_event(authorization, arn))

    def refused(self, event: object, reason: Reason | None = None) -> None:
        """The function answers with exactly API Gateway's 401 exception (and logs
        ``reason``)."""
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the exact type is Exception
            self.call(event)
        assert type(raised.value) is Exception
        assert raised.value.args == ("Unauthorized",)
        assert self.lines[-1]["decision"] == "unauthorized"
        if reason is not None:
            assert self.lines[-1]["reason"] == reason.value


class _Lines(logging.Handler):
    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@pytest.fixture
def authorizer(
    fake_aws: None, jwks_server: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Authorizer]:
    """The environment the stack gives the function, a fresh execution environment (no cached
    clients, key sets or client ids) and the role table in moto."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("ISSUER", ISSUER)
    monkeypatch.setenv("JWKS_URL", jwks_server.url)
    monkeypatch.setenv("CLIENT_IDS", CLIENT_ID)
    monkeypatch.setenv("ROLE_TABLE", ROLE_TABLE)
    monkeypatch.setenv("ROUTE_ROLES", json.dumps(ROUTE_ROLES))
    aws.reset()
    tokens._JWKS_CLIENTS.clear()
    boto3.client("dynamodb", region_name="eu-west-1").create_table(
        TableName=ROLE_TABLE,
        KeySchema=[{"AttributeName": "subject", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "subject", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    function = Authorizer(monkeypatch, jwks_server)
    handler = _Lines(function.lines)
    logger = logging.getLogger("authorizer")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    yield function
    logger.removeHandler(handler)
    aws.reset()
    tokens._JWKS_CLIENTS.clear()


def allowed(answer: Mapping[str, Any]) -> list[str]:
    (statement,) = answer["policyDocument"]["Statement"]
    return list(statement["Resource"]) if statement["Effect"] == "Allow" else []


def policy_covers(answer: Mapping[str, Any], method_arn: str) -> bool:
    """What API Gateway decides for ``method_arn`` under ``answer``: some Allow resource matches
    (``*`` matches any characters, ``/`` included) and no Deny does."""
    effects = {"Allow": False, "Deny": False}
    for statement in answer["policyDocument"]["Statement"]:
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            if fnmatch.fnmatchcase(method_arn, resource):
                effects[statement["Effect"]] = True
    return effects["Allow"] and not effects["Deny"]
