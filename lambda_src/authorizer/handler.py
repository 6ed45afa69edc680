"""Lambda entry point (``authorizer.handler.lambda_handler``): API Gateway's TOKEN or REQUEST
authorizer of the public REST API.

A valid Cognito access token of an allowed app client gets a policy allowing every route its
holder's roles permit (context: ``userId``, ``username``, ``roles``), or an explicit Deny when
they permit none (403). Anything else, including an AWS service or the JWKS endpoint being
unreachable and any unexpected error, raises ``Exception("Unauthorized")``, the one exception
API Gateway turns into a 401; nothing else ever leaves this function (no 5xx).
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html

One JSON log line per decision: sub, client id, decision and reason, never the token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from .aws import role_record
from .policy import Effect, MethodArn, allowed_resources, policy
from .reasons import Decision, Reason, RejectedError
from .settings import Settings
from .tokens import verify_access_token

logger = logging.getLogger("authorizer")
logger.setLevel(logging.INFO)  # one line per decision, whatever the runtime's default


def lambda_handler(event: Any, context: object = None) -> dict[str, Any]:
    try:
        return _authorize(event)
    except RejectedError as rejected:
        _log(
            Decision.UNAUTHORIZED,
            rejected.reason,
            sub=rejected.sub,
            client_id=rejected.client_id,
            detail=rejected.detail,
        )
    except Exception as error:  # a 401, never a 5xx: see the module docstring
        _log(Decision.UNAUTHORIZED, Reason.INTERNAL_ERROR, detail=type(error).__name__)
    raise Exception("Unauthorized")  # the exact exception (and message) API Gateway expects


def _authorize(event: Any) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise RejectedError(Reason.MISSING_TOKEN)
    settings = Settings.from_environ()
    try:
        arn = MethodArn.parse(event.get("methodArn"))
    except ValueError:
        raise RejectedError(Reason.BAD_METHOD_ARN) from None
    claims = verify_access_token(
        _authorization(event),
        issuer=settings.issuer,
        jwks_url=settings.jwks_url,
        client_ids=settings.client_ids,
    )
    record = role_record(settings.role_table, claims.sub)
    roles = sorted(record.roles)
    context = {
        "userId": claims.sub,
        "username": claims.username or record.username,
        "roles": ",".join(roles),
    }
    resources = allowed_resources(settings.rules, roles, arn)
    covered = any(r.allows(roles) and r.covers(arn.method, arn.path) for r in settings.rules)
    facts = {"sub": claims.sub, "client_id": claims.client_id, "covered": covered}
    if not resources:
        _log(Decision.DENY, Reason.NO_ROUTE if roles else Reason.NO_ROLE, **facts)
        return policy(claims.sub, Effect.DENY, [arn.whole_stage], context)
    _log(Decision.ALLOW, Reason.ALLOWED, roles=context["roles"], **facts)
    return policy(claims.sub, Effect.ALLOW, resources, context)


def _authorization(event: Mapping[str, Any]) -> object:
    """The token of a TOKEN event, or the Authorization header (any case) of a REQUEST one."""
    if "authorizationToken" in event:
        return event["authorizationToken"]
    headers = event.get("headers")
    if not isinstance(headers, Mapping):
        return None
    return next((v for k, v in headers.items() if str(k).lower() == "authorization"), None)


def _log(decision: Decision, reason: Reason, **facts: object) -> None:
    line: dict[str, object] = {
        "message": "authorizer decision",
        "decision": decision.value,
        "reason": reason.value,
    }
    line |= {key: value for key, value in facts.items() if value not in ("", None)}
    logger.info(json.dumps(line, sort_keys=True))
