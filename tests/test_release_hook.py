"""The API's pre-traffic hook (lambda_src/release_hook): what it reports to CodeDeploy for each
answer of the new version, with botocore's Stubber standing in for Lambda and CodeDeploy (moto
cannot invoke a function without Docker), and the event it sends served by the real handler."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from api.routes import HEALTH
from release_hook import handler as hook
from tests.test_api_harness import Api, handler, lambda_context
from tests.test_api_harness import api as api  # the fixture, re-exported (see devkit.fixtures)

REGION = "us-east-1"
TARGET = "arn:aws:lambda:us-east-1:111111111111:function:three-tier-staging-Items:7"
EVENT = {"DeploymentId": "d-EXAMPLE11", "LifecycleEventHookExecutionId": "hook-execution-1"}
HEALTHY = {"status": "ok", "database": "ok"}
UNAVAILABLE = {
    "status": "unavailable",
    "database": "unreachable",
    "error": {"code": "DATABASE_UNAVAILABLE", "message": "the database did not answer"},
}
INVOKE_SECONDS = 20.0


class Captured:
    """Matches any value in a Stubber's expected parameters, and keeps each one it saw."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __eq__(self, other: object) -> bool:
        self.values.append(other)
        return True

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Aws:
    """Stubbed clients; ``payloads`` holds each event the hook sent to the function."""

    lambda_client: Any
    codedeploy: Any
    lambda_stub: Stubber
    codedeploy_stub: Stubber
    payloads: Captured
    sleeps: list[float]

    def answers(self, *responses: dict[str, Any]) -> None:
        for response in responses:
            self.lambda_stub.add_response(
                "invoke",
                response,
                {
                    "FunctionName": TARGET,
                    "InvocationType": "RequestResponse",
                    "Payload": self.payloads,
                },
            )

    def expect_report(self, status: str) -> None:
        self.codedeploy_stub.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
            {
                "deploymentId": EVENT["DeploymentId"],
                "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
                "status": status,
            },
        )

    def run(self, *, target: str | None = TARGET, time_left: float = 600.0) -> hook.Outcome:
        return hook.run(
            EVENT,
            lambda_client=self.lambda_client,
            codedeploy_client=self.codedeploy,
            target=target,
            invoke_seconds=INVOKE_SECONDS,
            time_left=lambda: time_left,
            sleep=self.sleeps.append,
        )

    def sent_events(self) -> list[dict[str, Any]]:
        return [json.loads(payload) for payload in self.payloads.values]


@pytest.fixture
def aws() -> Iterator[Aws]:
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    lambda_client, codedeploy = session.client("lambda"), session.client("codedeploy")
    with Stubber(lambda_client) as lambda_stub, Stubber(codedeploy) as codedeploy_stub:
        stubs = Aws(lambda_client, codedeploy, lambda_stub, codedeploy_stub, Captured(), [])
        yield stubs
        lambda_stub.assert_no_pending_responses()
        codedeploy_stub.assert_no_pending_responses()


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def answer(status: int, body: Any) -> dict[str, Any]:
    """Lambda's answer to the invocation: the function returned this proxy response."""
    proxy = {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
    return {
        "StatusCode": 200,
        "ExecutedVersion": "7",
        "Payload": streaming(json.dumps(proxy).encode()),
    }


def function_error() -> dict[str, Any]:
    error = {"errorMessage": "Task timed out after 10.00 seconds", "errorType": "Sandbox.Timedout"}
    return {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "ExecutedVersion": "7",
        "Payload": streaming(json.dumps(error).encode()),
    }


# --- what is reported ------------------------------------------------------------------------


def test_a_healthy_answer_is_reported_succeeded(aws: Aws) -> None:
    aws.answers(answer(200, HEALTHY))
    aws.expect_report("Succeeded")
    assert aws.run().status is hook.Status.SUCCEEDED
    assert aws.sleeps == []


def test_a_503_every_time_is_reported_failed_after_every_attempt(aws: Aws) -> None:
    aws.answers(*(answer(503, UNAVAILABLE) for _ in range(hook.ATTEMPTS)))
    aws.expect_report("Failed")
    outcome = aws.run()
    assert outcome.status is hook.Status.FAILED
    assert "503" in outcome.reason
    assert aws.sleeps == [hook.PAUSE_SECONDS] * (hook.ATTEMPTS - 1)


def test_a_database_that_resumes_between_attempts_is_reported_succeeded(aws: Aws) -> None:
    """A cluster paused at 0 ACU answers 503 until it resumes (~15 s): asked again, it passes."""
    aws.answers(answer(503, UNAVAILABLE), answer(503, UNAVAILABLE), answer(200, HEALTHY))
    aws.expect_report("Succeeded")
    assert aws.run().status is hook.Status.SUCCEEDED
    assert aws.sleeps == [hook.PAUSE_SECONDS] * 2


def test_no_attempt_starts_without_time_left_to_report(aws: Aws) -> None:
    aws.answers(answer(503, UNAVAILABLE))
    aws.expect_report("Failed")
    room = INVOKE_SECONDS + hook.PAUSE_SECONDS + hook.REPORT_RESERVE_SECONDS
    assert aws.run(time_left=room - 1).status is hook.Status.FAILED
    assert aws.sleeps == []


def test_a_function_error_is_reported_failed_at_once(aws: Aws) -> None:
    aws.answers(function_error())
    aws.expect_report("Failed")
    outcome = aws.run()
    assert outcome.status is hook.Status.FAILED
    assert "Unhandled" in outcome.reason
    assert aws.sleeps == []


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {"error": {"code": "INTERNAL_ERROR"}}), (200, {"status": "ok"}), (403, None)],
)
def test_any_other_answer_is_reported_failed_at_once(aws: Aws, status: int, body: Any) -> None:
    aws.answers(answer(status, body))
    aws.expect_report("Failed")
    assert aws.run().status is hook.Status.FAILED
    assert aws.sleeps == []


def test_an_answer_that_is_not_a_proxy_response_is_reported_failed(aws: Aws) -> None:
    aws.answers({"StatusCode": 200, "Payload": streaming(b"not json")})
    aws.expect_report("Failed")
    assert aws.run().status is hook.Status.FAILED


def test_an_invocation_that_raises_is_reported_failed(aws: Aws) -> None:
    aws.lambda_stub.add_client_error(
        "invoke", service_error_code="AccessDeniedException", http_status_code=403
    )
    aws.expect_report("Failed")
    outcome = aws.run()
    assert outcome.status is hook.Status.FAILED
    assert "AccessDeniedException" in outcome.reason


def test_a_missing_target_is_reported_failed_without_invoking(aws: Aws) -> None:
    aws.expect_report("Failed")
    outcome = aws.run(target=None)
    assert outcome.status is hook.Status.FAILED
    assert hook.TARGET_VERSION_ENV in outcome.reason


def test_an_event_without_the_deployment_ids_is_a_one_line_error(aws: Aws) -> None:
    with pytest.raises(ValueError, match="not a CodeDeploy hook event") as raised:
        hook.run(
            {"DeploymentId": "d-1"},
            lambda_client=aws.lambda_client,
            codedeploy_client=aws.codedeploy,
            target=TARGET,
            invoke_seconds=INVOKE_SECONDS,
        )
    assert "\n" not in str(raised.value)


def test_the_entry_point_invokes_the_version_in_its_environment(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(hook.TARGET_VERSION_ENV, TARGET)
    monkeypatch.setenv(hook.TARGET_TIMEOUT_ENV, "10")
    made: dict[str, Any] = {}

    def client(service: str, **kwargs: Any) -> Any:
        made[service] = kwargs
        return {"lambda": aws.lambda_client, "codedeploy": aws.codedeploy}[service]

    monkeypatch.setattr(boto3, "client", client)
    aws.answers(answer(200, HEALTHY))
    aws.expect_report("Succeeded")

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 300_000

    assert hook.lambda_handler(EVENT, Context())["status"] == "Succeeded"
    # A read timeout longer than the function's, so a slow answer is read, not retried.
    assert made["lambda"]["config"].read_timeout > 10


# --- what is sent ----------------------------------------------------------------------------


def test_the_event_sent_is_get_health_with_the_routes_scope(aws: Aws) -> None:
    aws.answers(answer(200, HEALTHY))
    aws.expect_report("Succeeded")
    aws.run()
    (event,) = aws.sent_events()
    assert (event["httpMethod"], event["path"], event["resource"]) == (
        HEALTH.method.value,
        HEALTH.path,
        HEALTH.path,
    )
    claims = event["requestContext"]["authorizer"]["claims"]
    assert claims["scope"].split() == [HEALTH.scope.token_scope]
    assert claims["token_use"] == "access"


@dataclass
class HandlerAsLambda:
    """Stands for the Lambda API: runs the real API handler on each invocation's payload."""

    calls: int = 0

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        assert (FunctionName, InvocationType) == (TARGET, "RequestResponse")
        response = handler.lambda_handler(json.loads(Payload), lambda_context())
        return {"StatusCode": 200, "Payload": streaming(json.dumps(response).encode())}


def test_the_real_handler_answers_the_event_healthy(api: Api) -> None:
    """The API itself (``api``: its handler on a real database) serves the hook's event as a
    healthy 200."""
    function = HandlerAsLambda()
    outcome = hook.check(function, TARGET, invoke_seconds=INVOKE_SECONDS)
    assert outcome.status is hook.Status.SUCCEEDED, outcome.reason
    assert function.calls == 1
    (line,) = [line for line in api.logs() if line.get("message") == "request"]
    assert (line["path"], line["status"], line["client_id"]) == ("/health", 200, hook.CLIENT_ID)
