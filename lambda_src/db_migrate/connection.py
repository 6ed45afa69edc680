"""What logging in looks like to every engine family: the endpoint, the login from the secret,
and how a refused login is retried with the secret read again.

A single-user rotation of the master secret (which starts as soon as its schedule is created)
has a window in which the database already has the new password and AWSCURRENT still the old
one: a refused login is retried with the secret read again, ``LoginRetry.attempts`` logins at
most. Each family's module (``postgresql``) supplies the one-login connect.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .migrate import Migration

Connection = TypeVar("Connection")


@dataclass(frozen=True)
class Endpoint:
    """Where the runner logs in, from its environment (no login)."""

    host: str
    port: int
    dbname: str
    sslmode: str
    """``verify-full`` or ``require``."""

    def target(self, user: str) -> str:
        """``user@host:port/dbname``, for messages."""
        return f"{user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class Login:
    """What the secret holds for the connection; the password never shows in a repr."""

    user: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class LoginRetry:
    """How often a refused login is tried again, each time with the secret read again."""

    attempts: int = 6
    """Logins in all, the first included."""
    first_delay_seconds: float = 2.0
    max_delay_seconds: float = 15.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_delay_seconds < 0 or self.max_delay_seconds < 0:
            raise ValueError(f"invalid {self}")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before login `attempt` (2, 3, ...): doubling, capped."""
        return min(self.max_delay_seconds, self.first_delay_seconds * 2.0 ** max(0, attempt - 2))

    @property
    def total_delay_seconds(self) -> float:
        """The most a run waits between refused logins."""
        return sum(self.delay_before(attempt) for attempt in range(2, self.attempts + 1))


@dataclass(frozen=True, kw_only=True)
class MigrationRun:
    """What the handler asks of a family: log in at ``endpoint`` with the login ``read``
    returns, within ``budget_seconds`` and ``retry``, and apply the pending ``migrations``."""

    read: Callable[[], Login]
    endpoint: Endpoint
    migrations: Sequence[Migration]
    budget_seconds: float
    retry: LoginRetry


class ConnectError(Exception):
    """The database could not be reached within the connect budget."""


class LoginRefusedError(ConnectError):
    """The database refused the login from the secret, each time the secret was read again."""

    def __init__(self, message: str, *, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def connect_with_current_login(
    read: Callable[[], Login],
    endpoint: Endpoint,
    connect: Callable[[Endpoint, Login, float], Connection],
    *,
    budget_seconds: float,
    retry: LoginRetry,
) -> Connection:
    """Connects with the login `read` returns; a refused login is retried with a fresh `read`.

    ``connect(endpoint, login, budget_seconds)`` is the family's one login: it retries an
    unreachable database within its budget and raises LoginRefusedError when the server refuses
    the login. Unreachable-database retries share one budget of `budget_seconds`; refused logins
    add at most `retry.total_delay_seconds` of waiting (each login still gets one connection
    attempt). Any other failure is raised as it is.
    """
    started = time.monotonic()
    deadline = started + budget_seconds
    attempt = 1
    while True:
        login = read()
        try:
            return connect(endpoint, login, max(0.0, deadline - time.monotonic()))
        except LoginRefusedError as refused:
            if attempt >= retry.attempts:
                raise LoginRefusedError(
                    f"could not log in to {endpoint.target(login.user)}: refused {attempt} times "
                    f"in {time.monotonic() - started:.0f} s although the secret was read again "
                    f"before each login: {refused}. The secret and the database disagree "
                    "beyond a rotation's window: check the secret's AWSCURRENT version and "
                    "the last rotation",
                    sqlstate=refused.sqlstate,
                ) from None
            attempt += 1
            delay = retry.delay_before(attempt)
            log(
                "login refused, reading the secret again",
                attempt=attempt - 1,
                of=retry.attempts,
                sqlstate=refused.sqlstate,
                retry_in_s=delay,
                error=str(refused),
            )
            time.sleep(delay)


def log(message: str, **fields: Any) -> None:
    """One JSON line to CloudWatch; callers never pass credentials."""
    print(json.dumps({"message": message, **fields}, default=str), flush=True)
