"""Verifying a Cognito access token with PyJWT (never by hand), as Cognito's guide says:
signature with the pool's JWKS key of the token's ``kid`` (RS256 only), ``exp``, ``iss``,
``token_use == "access"`` and ``client_id`` one of the app clients allowed; access tokens carry
``client_id``, not ``aud``.
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from .reasons import Reason, RejectedError

ACCESS = "access"
"""``token_use`` of an access token (an ID token says ``id``)."""
ALGORITHM = "RS256"
"""What Cognito signs with; the only algorithm accepted (no HS256 with the public key, no none)."""
REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "token_use", "client_id")
LEEWAY_SECONDS = 30
"""Clock skew allowed on exp and iat."""
JWKS_LIFESPAN_SECONDS = 600
JWKS_TIMEOUT_SECONDS = 3.0
MAX_TOKEN_CHARS = 8192
"""Longer is not a Cognito token: refused before any parsing."""

_JWKS_CLIENTS: dict[str, jwt.PyJWKClient] = {}
"""One client per JWKS URL for the life of the execution environment: warm invocations reuse
its key set (refetched after ``JWKS_LIFESPAN_SECONDS``; an unknown kid refetches at most once per
PyJWT's 30 s cooldown, so random kids cannot hammer the endpoint)."""

_CLAIM_ERRORS: tuple[tuple[type[jwt.PyJWTError], Reason], ...] = (
    (jwt.ExpiredSignatureError, Reason.EXPIRED),
    (jwt.ImmatureSignatureError, Reason.NOT_YET_VALID),
    (jwt.InvalidIssuerError, Reason.WRONG_ISSUER),
    (jwt.MissingRequiredClaimError, Reason.MISSING_CLAIM),
    (jwt.InvalidSignatureError, Reason.BAD_SIGNATURE),
    (jwt.InvalidAlgorithmError, Reason.BAD_ALGORITHM),
)


@dataclass(frozen=True)
class AccessClaims:
    """What the authorizer uses of a verified access token."""

    sub: str
    client_id: str
    username: str


def jwks_client(url: str) -> jwt.PyJWKClient:
    client = _JWKS_CLIENTS.get(url)
    if client is None:
        client = jwt.PyJWKClient(
            url, cache_keys=True, lifespan=JWKS_LIFESPAN_SECONDS, timeout=JWKS_TIMEOUT_SECONDS
        )
        _JWKS_CLIENTS[url] = client
    return client


def bearer_token(header: object) -> str:
    """The JWT of ``Authorization: Bearer <jwt>`` (or of a bare ``<jwt>``)."""
    if not isinstance(header, str) or not header.strip():
        raise RejectedError(Reason.MISSING_TOKEN)
    scheme, _, rest = header.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else header.strip()
    if not token:
        raise RejectedError(Reason.MISSING_TOKEN)
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2 or " " in token:
        raise RejectedError(Reason.MALFORMED_TOKEN)
    return token


def _signing_key(token: str, jwks_url: str) -> Any:
    """The JWKS key the token names, after checking its header asks for RS256 (so a token
    with another algorithm never costs a JWKS fetch)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise RejectedError(Reason.MALFORMED_TOKEN) from None
    if header.get("alg") != ALGORITHM:
        raise RejectedError(Reason.BAD_ALGORITHM)
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise RejectedError(Reason.MALFORMED_TOKEN)
    try:
        return jwks_client(jwks_url).get_signing_key(kid).key
    except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError):
        raise RejectedError(Reason.JWKS_UNAVAILABLE) from None  # down, slow, not a key set
    except jwt.PyJWKClientError:
        raise RejectedError(Reason.UNKNOWN_KID) from None


def _decoded(token: str, key: Any, issuer: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            # Access tokens have no aud (client_id is checked below); every other check is on.
            options={"require": list(REQUIRED_CLAIMS), "verify_aud": False},
        )
    except jwt.PyJWTError as error:
        reason = next((r for kind, r in _CLAIM_ERRORS if isinstance(error, kind)), None)
        raise RejectedError(reason or Reason.MALFORMED_TOKEN) from None
    return claims


def verify_access_token(
    header: object, *, issuer: str, jwks_url: str, client_ids: Callable[[], frozenset[str]]
) -> AccessClaims:
    """The claims of a valid access token of an allowed client, or RejectedError.
    ``client_ids`` is called only for a correctly signed token (it may read SSM)."""
    token = bearer_token(header)
    claims = _decoded(token, _signing_key(token, jwks_url), issuer)
    sub, client_id = claims["sub"], claims["client_id"]
    if not isinstance(sub, str) or not sub or not isinstance(client_id, str):
        raise RejectedError(Reason.MISSING_CLAIM)
    if claims["token_use"] != ACCESS:
        raise RejectedError(Reason.NOT_ACCESS_TOKEN, sub=sub, client_id=client_id)
    if client_id not in client_ids():
        raise RejectedError(Reason.WRONG_CLIENT, sub=sub, client_id=client_id)
    username = claims.get("username")
    return AccessClaims(sub, client_id, username if isinstance(username, str) else "")
