"""CodeDeploy's BeforeAllowTraffic hook of the items API (`release_hook.handler.lambda_handler`).

Before any traffic moves to a new version of the API function, CodeDeploy invokes this with the
deployment's ``DeploymentId`` and ``LifecycleEventHookExecutionId``. It invokes that version
(its ARN in ``TARGET_VERSION_ARN``, set by the stack) with the API Gateway REST proxy event of
``GET /health`` as the Cognito-authorized stage sends it, and reports ``Succeeded`` only for a
200 whose body says the database answered. Anything else (another status, a function error, an
invocation that raises, a missing setting) is ``Failed``: CodeDeploy then stops the deployment,
and it is never left waiting out the hook's hour.

A 503 is asked again, a pause apart, a few times: it is what the health route answers while an
Aurora cluster paused at 0 ACU resumes (~15 s, longer than the function's connect timeout).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPMethod, HTTPStatus
from typing import Any

import boto3
from botocore.config import Config

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

TARGET_VERSION_ENV = "TARGET_VERSION_ARN"
"""The new version's ARN (qualified with its number): the only thing this invokes."""
TARGET_TIMEOUT_ENV = "TARGET_TIMEOUT_SECONDS"
"""The API function's timeout: one invocation may take that long before it answers."""

HEALTH_METHOD = HTTPMethod.GET
HEALTH_PATH = "/health"
HEALTH_SCOPE = "api/items.read"
"""The token scope of ``GET /health`` (``api.routes.HEALTH``; a test keeps them equal)."""
HEALTHY_BODY = {"status": "ok", "database": "ok"}
"""What ``GET /health`` answers, with a 200, when the database answered."""
CLIENT_ID = "codedeploy-pre-traffic-hook"
"""The ``client_id`` claim: the API logs it, so its log tells this check from real callers."""
STAGE = "v1"

RETRIED_STATUS = HTTPStatus.SERVICE_UNAVAILABLE
ATTEMPTS = 6
PAUSE_SECONDS = 10.0
REPORT_RESERVE_SECONDS = 15.0
"""No attempt starts unless one invocation, a pause and this much time are left: the report
to CodeDeploy always gets made before this function's own timeout."""


class Status(StrEnum):
    """The two statuses a hook may report (PutLifecycleEventHookExecutionStatus)."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str


class UnhealthyError(Exception):
    """The new version answered, but not healthy; ``retry`` when asking again may help."""

    def __init__(self, reason: str, *, retry: bool = False) -> None:
        super().__init__(reason)
        self.retry = retry


def health_event(request_id: str | None = None) -> dict[str, Any]:
    """``GET /health`` as the stage sends it once its Cognito authorizer accepted an access
    token carrying the route's scope (the claims are in ``requestContext.authorizer``)."""
    request_id = request_id or str(uuid.uuid4())
    headers = {"Accept": "application/json", "Host": "release-check.internal"}
    return {
        "resource": HEALTH_PATH,
        "path": HEALTH_PATH,
        "httpMethod": HEALTH_METHOD.value,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": HEALTH_PATH,
            "httpMethod": HEALTH_METHOD.value,
            "path": f"/{STAGE}{HEALTH_PATH}",
            "stage": STAGE,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": CLIENT_ID},
            "authorizer": {
                "claims": {
                    "client_id": CLIENT_ID,
                    "sub": CLIENT_ID,
                    "scope": HEALTH_SCOPE,
                    "token_use": "access",
                }
            },
        },
    }


def ask_health(lambda_client: Any, target: str) -> None:
    """One ``GET /health`` of ``target``; raises ``UnhealthyError``, or what the invocation raises.

    ``lambda_client``: a boto3 ``lambda`` client (tests pass a stubbed one)."""
    response = lambda_client.invoke(
        FunctionName=target,
        InvocationType="RequestResponse",
        Payload=json.dumps(health_event()).encode(),
    )
    payload = response["Payload"].read()
    if response.get("FunctionError"):
        raise UnhealthyError(f"function error ({response['FunctionError']}): {payload[:300]!r}")
    answer = json.loads(payload)
    status = answer.get("statusCode") if isinstance(answer, dict) else None
    if status != HTTPStatus.OK:
        raise UnhealthyError(f"GET /health answered {status}", retry=status == RETRIED_STATUS)
    body = json.loads(answer.get("body") or "null")
    if body != HEALTHY_BODY:
        raise UnhealthyError(f"GET /health answered 200 with {json.dumps(body)[:300]}")


def check(
    lambda_client: Any,
    target: str,
    *,
    invoke_seconds: float,
    time_left: Callable[[], float] = lambda: math.inf,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Asks until healthy, or until an answer that asking again cannot change, ``ATTEMPTS``
    answers, or too little time left (``REPORT_RESERVE_SECONDS``)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            ask_health(lambda_client, target)
        except UnhealthyError as error:
            reason = f"{error} (attempt {attempt})"
            room = invoke_seconds + PAUSE_SECONDS + REPORT_RESERVE_SECONDS
            if not error.retry or attempt == ATTEMPTS or time_left() < room:
                return Outcome(Status.FAILED, reason)
            LOGGER.info(json.dumps({"retrying": reason, "pause_seconds": PAUSE_SECONDS}))
            sleep(PAUSE_SECONDS)
            continue
        except Exception as error:  # the invocation failed, or its answer is no proxy response
            return Outcome(Status.FAILED, f"checking {target}: {type(error).__name__}: {error}")
        return Outcome(Status.SUCCEEDED, f"GET /health of {target}: 200 (attempt {attempt})")
    raise AssertionError("unreachable: the last attempt returns")


def run(
    event: Mapping[str, Any],
    *,
    lambda_client: Any,
    codedeploy_client: Any,
    target: str | None,
    invoke_seconds: float,
    time_left: Callable[[], float] = lambda: math.inf,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Checks ``target`` and reports the outcome to CodeDeploy (``codedeploy_client``: a boto3
    ``codedeploy`` client). An event without the deployment's ids cannot be answered: that is
    a ``ValueError``, one line."""
    deployment_id = event.get("DeploymentId")
    execution_id = event.get("LifecycleEventHookExecutionId")
    if not isinstance(deployment_id, str) or not isinstance(execution_id, str):
        raise ValueError("not a CodeDeploy hook event: DeploymentId/LifecycleEventHookExecutionId")
    if not target:
        outcome = Outcome(Status.FAILED, f"{TARGET_VERSION_ENV} is not set")
    else:
        try:
            outcome = check(
                lambda_client,
                target,
                invoke_seconds=invoke_seconds,
                time_left=time_left,
                sleep=sleep,
            )
        except Exception as error:  # CodeDeploy must get an answer, whatever went wrong
            outcome = Outcome(Status.FAILED, f"{type(error).__name__}: {error}")
    LOGGER.info(
        json.dumps(
            {"deployment": deployment_id, "status": outcome.status, "reason": outcome.reason}
        )
    )
    codedeploy_client.put_lifecycle_event_hook_execution_status(
        deploymentId=deployment_id,
        lifecycleEventHookExecutionId=execution_id,
        status=outcome.status.value,
    )
    return outcome


def _target_timeout() -> float:
    """The API function's timeout from the environment; API Gateway's integration timeout
    (29 s, the most the function may have) when it is missing or not a positive number."""
    try:
        seconds = float(os.environ.get(TARGET_TIMEOUT_ENV, ""))
    except ValueError:
        return 29.0
    return seconds if seconds > 0 else 29.0


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, str]:
    """The Lambda entry point: every check ends in a report to CodeDeploy."""
    invoke_seconds = _target_timeout() + 10
    lambda_client = boto3.client(
        "lambda",
        config=Config(
            connect_timeout=5,
            read_timeout=invoke_seconds,
            retries={"mode": "standard", "max_attempts": 2},
        ),
    )
    outcome = run(
        event,
        lambda_client=lambda_client,
        codedeploy_client=boto3.client("codedeploy"),
        target=os.environ.get(TARGET_VERSION_ENV),
        invoke_seconds=invoke_seconds,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    return {"status": outcome.status.value, "reason": outcome.reason}
