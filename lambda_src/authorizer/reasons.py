"""Why the authorizer decided as it did: the ``reason`` of its log line, and the exception that
carries a refusal to the handler (which turns every refusal into API Gateway's 401)."""

from __future__ import annotations

from enum import StrEnum


class Decision(StrEnum):
    ALLOW = "allow"
    """A policy allowing the routes the caller's roles permit."""
    DENY = "deny"
    """A valid token without any permitted route: an explicit Deny (403)."""
    UNAUTHORIZED = "unauthorized"
    """No policy: ``Exception("Unauthorized")`` (401)."""


class Reason(StrEnum):
    """Reason codes of the log line (S105: names, not secrets)."""

    ALLOWED = "allowed"
    NO_ROLE = "no_role"
    NO_ROUTE = "no_route"
    MISSING_TOKEN = "missing_token"  # noqa: S105
    MALFORMED_TOKEN = "malformed_token"  # noqa: S105
    BAD_ALGORITHM = "bad_algorithm"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ISSUER = "wrong_issuer"
    MISSING_CLAIM = "missing_claim"
    NOT_ACCESS_TOKEN = "not_access_token"  # noqa: S105
    WRONG_CLIENT = "wrong_client"
    JWKS_UNAVAILABLE = "jwks_unavailable"
    CLIENT_IDS_UNAVAILABLE = "client_ids_unavailable"
    ROLE_TABLE_UNAVAILABLE = "role_table_unavailable"
    BAD_METHOD_ARN = "bad_method_arn"
    MISCONFIGURED = "misconfigured"
    INTERNAL_ERROR = "internal_error"


class RejectedError(Exception):
    """The request gets a 401; ``reason`` is logged, ``sub``/``client_id`` once verified,
    ``detail`` for a configuration error (never anything from the token)."""

    def __init__(
        self, reason: Reason, *, sub: str = "", client_id: str = "", detail: str = ""
    ) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.sub = sub
        self.client_id = client_id
        self.detail = detail
