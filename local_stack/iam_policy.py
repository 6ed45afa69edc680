"""How API Gateway applies a Lambda authorizer's policy to one request, for ``make local``.

The rules of IAM policy evaluation that matter here
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit ``Deny`` that matches wins; otherwise a matching ``Allow`` allows; otherwise the
request is denied implicitly. ``*`` in a resource matches any run of characters (``/``
included), ``?`` any one character; resources compare case-sensitively, actions not
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html,
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from enum import Enum, StrEnum
from typing import Any

INVOKE = "execute-api:Invoke"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


class PolicyError(ValueError):
    """The document is not a policy API Gateway could apply."""


@functools.lru_cache(maxsize=256)
def _pattern(text: str, *, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text
    )
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def _strings(value: Any, name: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise PolicyError(f"{name} must be a string or a list of strings")
    return values


def evaluate(document: Mapping[str, Any], resource: str, action: str = INVOKE) -> Decision:
    """The decision for ``action`` on ``resource`` (a method ARN)."""
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        raise PolicyError("the policy has no Statement list")
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            raise PolicyError("a Statement is not an object")
        try:
            effect = Effect(str(statement.get("Effect")))
        except ValueError:
            raise PolicyError("a Statement's Effect is neither Allow nor Deny") from None
        actions = _strings(statement.get("Action"), "Action")
        resources = _strings(statement.get("Resource"), "Resource")
        if not any(_pattern(a, ignore_case=True).fullmatch(action) for a in actions):
            continue
        if not any(_pattern(r, ignore_case=False).fullmatch(resource) for r in resources):
            continue
        if effect is Effect.DENY:
            return Decision.EXPLICIT_DENY
        allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
