"""The AWS side of the release tooling: the clients it reads through (injected by the tests),
the stacks' outputs, and which alarms went off when.

Clients are typed ``Any``: the venv has no boto3-stubs for ECS, CodeDeploy or CloudWatch, and
the tests hand in moto- or Stubber-backed clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from release.contract import RELEASE_OUTPUT
from stacks.config import AppConfig, EnvironmentConfig, stack_name

T = TypeVar("T")

CLIENT_CONFIG = Config(retries={"max_attempts": 10, "mode": "standard"})
"""Polling for up to an hour: retry throttling rather than fail the job."""
SERVICES = ("cloudformation", "ecs", "codedeploy", "lambda", "cloudwatch", "ssm")


class ReleaseError(Exception):
    """Something the operator has to fix or look at; ``str()`` is the one line shown."""


@dataclass(frozen=True)
class Clients:
    """One client per service the release tooling calls, in the environment's region."""

    cloudformation: Any
    ecs: Any
    codedeploy: Any
    lambda_: Any
    cloudwatch: Any
    ssm: Any

    @classmethod
    def for_environment(cls, env: EnvironmentConfig) -> Clients:
        """Clients from the caller's credentials (the deploy role in the workflow, an
        operator's profile from a laptop), in ``env``'s region."""
        session = boto3.Session(region_name=env.region)
        made = {name: session.client(name, config=CLIENT_CONFIG) for name in SERVICES}  # type: ignore[call-overload]
        return cls(
            cloudformation=made["cloudformation"],
            ecs=made["ecs"],
            codedeploy=made["codedeploy"],
            lambda_=made["lambda"],
            cloudwatch=made["cloudwatch"],
            ssm=made["ssm"],
        )


@dataclass
class Clock:
    """Time and waiting, replaced in tests so nothing sleeps."""

    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = field(default=time.sleep)
    poll_seconds: float = 15.0


@dataclass(frozen=True)
class Wait:
    """How long an inspection may wait for a deployment to end; ``None`` in its place (explain)
    means look once."""

    clock: Clock
    until: datetime

    @classmethod
    def minutes(cls, clock: Clock, minutes: float) -> Wait:
        return cls(clock, clock.now() + timedelta(minutes=minutes))

    def again(self) -> bool:
        """Sleeps one poll interval and says True, or says False once the time is up."""
        if self.clock.now() >= self.until:
            return False
        self.clock.sleep(self.clock.poll_seconds)
        return True


@dataclass(frozen=True)
class StackInfo:
    """What the release tooling reads of a stack: its outputs and when its last update (or its
    creation) began."""

    name: str
    outputs: Mapping[str, str]
    updated: datetime
    status: str

    def release(self, parse: Callable[[str], T]) -> T:
        """The ``Release`` output, parsed (``WebRelease.from_json``, ...)."""
        text = self.output(RELEASE_OUTPUT)
        try:
            return parse(text)
        except (ValueError, TypeError, KeyError) as error:
            raise ReleaseError(
                f"stack {self.name}'s output {RELEASE_OUTPUT} is not a release "
                f"({type(error).__name__}: {error})"
            ) from None

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise ReleaseError(
                f"stack {self.name} has no output {key} (deployed before releases were tracked?"
                " deploy it once more)"
            ) from None


def read_stack(clients: Clients, app: AppConfig, env: EnvironmentConfig, tier: str) -> StackInfo:
    """The tier's stack (``stack_name``), or a ReleaseError when it is not there."""
    name = stack_name(app, env, tier)
    try:
        (stack,) = clients.cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            raise ReleaseError(f"stack {name} does not exist in {env.region}") from None
        raise
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
    updated = stack.get("LastUpdatedTime") or stack["CreationTime"]
    return StackInfo(name, outputs, aware(updated), stack["StackStatus"])


def aware(moment: datetime) -> datetime:
    """A timestamp in UTC (botocore parses them aware; moto's may be naive, meaning UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def clock_time(moment: datetime) -> str:
    """``12:03:10Z``: how the lines name a moment (the job ran the same day)."""
    return aware(moment).strftime("%H:%M:%SZ")


def minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (aware(end) - aware(start)).total_seconds() / 60)


def alarms_that_went_off(
    cloudwatch: Any, alarms: Iterable[str], start: datetime, end: datetime
) -> list[tuple[str, datetime]]:
    """Each alarm whose history shows a StateUpdate to ALARM between ``start`` and ``end``,
    with the first such moment, earliest first. An alarm whose history cannot be read (a
    composite alarm needs DescribeAlarmHistory on ``*``) is left out, not fatal."""
    went_off: list[tuple[str, datetime]] = []
    for name in alarms:
        try:
            moment = _first_alarm(cloudwatch, name, start, end)
        except (ClientError, BotoCoreError):
            continue
        if moment is not None:
            went_off.append((name, moment))
    return sorted(went_off, key=lambda item: item[1])


def _first_alarm(cloudwatch: Any, name: str, start: datetime, end: datetime) -> datetime | None:
    answer = cloudwatch.describe_alarm_history(
        AlarmName=name,
        HistoryItemType="StateUpdate",
        StartDate=start,
        EndDate=end,
        ScanBy="TimestampAscending",
        MaxRecords=100,
    )
    for item in answer.get("AlarmHistoryItems", []):
        if _to_alarm(item):
            return aware(item["Timestamp"])
    return None


def _to_alarm(item: Mapping[str, Any]) -> bool:
    try:
        state = json.loads(item.get("HistoryData", ""))["newState"]["stateValue"]
    except (ValueError, KeyError, TypeError):
        return str(item.get("HistorySummary", "")).endswith("to ALARM")
    return bool(state == "ALARM")


def alarm_phrase(went_off: list[tuple[str, datetime]], named: Iterable[str] = ()) -> str:
    """``alarm A went to ALARM at 12:03:10Z, alarm B ...``; alarms the service named without a
    history entry follow without a time; "" when there is neither."""
    parts = [f"alarm {name} went to ALARM at {clock_time(moment)}" for name, moment in went_off]
    timed = {name for name, _ in went_off}
    parts += [f"alarm {name} went to ALARM" for name in named if name not in timed]
    return ", ".join(parts)


def aws_failure(error: ClientError | BotoCoreError) -> str:
    """An AWS error as part of one line: its code and message."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code, message = details.get("Code", "error"), details.get("Message", "")
        operation = error.operation_name
        return f"{operation}: {code}" + (f": {message}" if message else "")
    return f"{type(error).__name__}: {error}"


def pages(call: Callable[..., Mapping[str, Any]], key: str, **params: Any) -> Iterator[Any]:
    """Every item under ``key`` of a paginated call (``nextToken``), at most 20 pages."""
    token: str | None = None
    for _ in range(20):
        answer = call(**params, **({"nextToken": token} if token else {}))
        yield from answer.get(key, [])
        token = answer.get("nextToken")
        if not token:
            return
