"""What both commands share: their errors, AWS clients, clock, the two programs they start and
reading a stack's outputs."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from release.aws import Clients as StackClients
from release.aws import ReleaseError, read_stack
from stacks.config import AppConfig, EnvironmentConfig

CLIENT_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
)
SERVICES = ("cloudformation", "ec2", "ssm", "rds", "secretsmanager", "ecs")
AWS_CLI_INSTALL = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
PLUGIN_INSTALL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
    "session-manager-working-with-install-plugin.html"
)


class UsageError(Exception):
    """Something the operator typed or asked for that cannot be; ``str()`` is the one line
    shown (exit 2)."""


class AccessError(Exception):
    """Something to fix or wait for; ``str()`` is the one line shown (exit 1)."""


@dataclass(frozen=True)
class Clients:
    """One client per service the commands call, in the environment's region. Typed ``Any``:
    the tests hand in moto-backed clients and a fake for what moto lacks."""

    cloudformation: Any
    ec2: Any
    ssm: Any
    rds: Any
    secretsmanager: Any
    ecs: Any

    @classmethod
    def for_environment(cls, env: EnvironmentConfig) -> Clients:
        """Clients from the caller's credentials (an operator's profile or SSO session)."""
        session = boto3.Session(region_name=env.region)
        made = {name: session.client(name, config=CLIENT_CONFIG) for name in SERVICES}  # type: ignore[call-overload]
        return cls(**made)


@dataclass
class Clock:
    """Time and waiting, replaced in tests so nothing sleeps."""

    monotonic: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], None] = field(default=time.sleep)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def clock_time(moment: datetime) -> str:
    """``12:03:10Z``."""
    return moment.astimezone(UTC).strftime("%H:%M:%SZ")


def session_programs() -> str:
    """The AWS CLI's path, once it and the Session Manager plugin it runs are both on the PATH;
    else an AccessError saying where to get the missing one."""
    aws = shutil.which("aws")
    if aws is None:
        raise AccessError(
            f"the AWS CLI (aws) is not on the PATH: install AWS CLI v2, {AWS_CLI_INSTALL}"
        )
    if shutil.which("session-manager-plugin") is None:
        raise AccessError(
            "the Session Manager plugin (session-manager-plugin) is not on the PATH: install "
            f"it, {PLUGIN_INSTALL}"
        )
    return aws


def stack_outputs(
    clients: Clients,
    app: AppConfig,
    env: EnvironmentConfig,
    tier: str,
    needed: Iterable[str],
    why: str,
) -> Mapping[str, str]:
    """The tier's stack outputs, or one line naming the stack and every missing output (``why``:
    what deploys them)."""
    # read_stack reads only the CloudFormation client of release's Clients.
    stack = read_stack(StackClients(clients.cloudformation, *([None] * 5)), app, env, tier)
    missing = [key for key in needed if key not in stack.outputs]
    if missing:
        raise AccessError(f"stack {stack.name} has no output {', '.join(missing)} ({why})")
    return stack.outputs


__all__ = [
    "AccessError",
    "Clients",
    "Clock",
    "ReleaseError",
    "UsageError",
    "clock_time",
    "session_programs",
    "stack_outputs",
]
