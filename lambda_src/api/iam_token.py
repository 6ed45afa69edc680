"""RDS IAM auth tokens, signed with the standard library.

A token is a SigV4 presigned ``GET https://<host>:<port>/?Action=connect&DBUser=<user>`` for the
``rds-db`` service, valid 900 s: what boto3's ``generate_db_auth_token`` returns, byte for byte (a
test pins the two together). Signing it here spares the cold start boto3 and botocore
(about 100 ms of imports on the first connect) for one HMAC chain. The credentials are the
execution role's, which Lambda puts in the function's environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

SERVICE = "rds-db"
EXPIRES_SECONDS = 900
_ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    """The keys a token is signed with: the function's execution role's."""

    access_key: str
    secret_key: str
    session_token: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Credentials:
        """The execution role's credentials, as Lambda sets them (AWS_ACCESS_KEY_ID, ...)."""
        try:
            return cls(
                access_key=environ["AWS_ACCESS_KEY_ID"],
                secret_key=environ["AWS_SECRET_ACCESS_KEY"],
                session_token=environ.get("AWS_SESSION_TOKEN") or None,
            )
        except KeyError:
            raise MissingCredentialsError("no AWS credentials in the environment") from None


class MissingCredentialsError(Exception):
    """No AWS credentials in the environment to sign with."""


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def auth_token(
    *, host: str, port: int, user: str, region: str, credentials: Credentials, now: datetime
) -> str:
    """The token for ``user`` at ``host:port``, signed at ``now`` (UTC)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{now:%Y%m%d}/{region}/{SERVICE}/aws4_request"
    params = {
        "Action": "connect",
        "DBUser": user,
        "X-Amz-Algorithm": _ALGORITHM,
        "X-Amz-Credential": f"{credentials.access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(EXPIRES_SECONDS),
        "X-Amz-SignedHeaders": "host",
    }
    if credentials.session_token:
        params["X-Amz-Security-Token"] = credentials.session_token
    query = "&".join(f"{_quote(name)}={_quote(value)}" for name, value in params.items())
    canonical_query = "&".join(
        f"{_quote(name)}={_quote(value)}" for name, value in sorted(params.items())
    )
    empty_body = hashlib.sha256().hexdigest()
    canonical_request = "\n".join(
        ("GET", "/", canonical_query, f"host:{host}:{port}", "", "host", empty_body)
    )
    string_to_sign = "\n".join(
        (_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    key = f"AWS4{credentials.secret_key}".encode()
    for part in (f"{now:%Y%m%d}", region, SERVICE, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{host}:{port}/?{query}&X-Amz-Signature={signature}"


class IamTokenSigner:
    """Stands where boto3's RDS client would (same method, same token), without boto3."""

    def __init__(
        self,
        *,
        region_name: str,
        credentials: Callable[[], Credentials] = Credentials.from_environment,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.region_name = region_name
        self._credentials = credentials
        self._clock = clock

    def generate_db_auth_token(
        self,
        *,
        DBHostname: str,  # noqa: N803 - boto3's names, so either signs through this call
        Port: int,  # noqa: N803
        DBUsername: str,  # noqa: N803
        Region: str | None = None,  # noqa: N803
    ) -> str:
        return auth_token(
            host=DBHostname,
            port=Port,
            user=DBUsername,
            region=Region or self.region_name,
            credentials=self._credentials(),
            now=self._clock(),
        )
