"""What logging in looks like to every engine family: the endpoint, the login from the secret,
and how a refused login is retried with the secret read again.

A single-user rotation of the master secret (which starts as soon as its schedule is created)
has a window in which the database already has the new password and AWSCURRENT still the old
one: a refused login is retried with the secret read again, ``LoginRetry.attempts`` logins at
most. Each family's module (``postgresql``, ``mysql``) supplies the one-login connect, built on
``connect_within_budget``: the same budget, backoff and messages for every family.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .migrate import Migration, MigrationResult

Connection = TypeVar("Connection")
Session = TypeVar("Session", bound=AbstractContextManager[Any])
"""A family's connection, which closes as a context manager."""

CONNECT_TIMEOUT_SECONDS = 20
"""One connection attempt's timeout (less when less of the budget is left)."""
MIN_CONNECT_TIMEOUT_SECONDS = 2
MAX_BACKOFF_SECONDS = 15.0


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

    def log_in_and_apply(
        self,
        connect: Callable[[Endpoint, Login, float], Session],
        apply: Callable[[Session, Sequence[Migration]], MigrationResult],
    ) -> MigrationResult:
        """Logs in with the family's `connect` and the secret's current login
        (``connect_with_current_login``), applies the pending migrations with the family's
        `apply`, and closes the connection."""
        with connect_with_current_login(
            self.read, self.endpoint, connect, budget_seconds=self.budget_seconds, retry=self.retry
        ) as conn:
            return apply(conn, self.migrations)


class ConnectError(Exception):
    """The database could not be reached within the connect budget."""


class LoginRefusedError(ConnectError):
    """The database refused the login from the secret, each time the secret was read again."""

    def __init__(self, message: str, *, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class Refusal:
    """How a family names a refused login: a SQLSTATE of class 28 and its name."""

    sqlstate: str
    name: str


def connect_within_budget(
    endpoint: Endpoint,
    login: Login,
    budget_seconds: float,
    *,
    attempt: Callable[[int], Connection],
    failures: tuple[type[Exception], ...],
    refused: Callable[[Exception, str], Refusal | None],
    permanent: Sequence[str],
) -> Connection:
    """One login: connects, retrying with backoff until `budget_seconds` have passed (one try at
    least).

    ``attempt(connect_timeout_seconds)`` is one try with the family's driver; it raises one of
    `failures` when it cannot connect. ``refused(exc, message)`` tells a refused login (raised at
    once as LoginRefusedError); an error whose message has one of the `permanent` texts (which
    waiting cannot fix) fails at once; anything else is retried until the budget is spent, then
    raised as ConnectError. Messages never show the login's password.
    """
    target = endpoint.target(login.user)
    log("connecting", target=target, sslmode=endpoint.sslmode, budget_s=budget_seconds)
    started = time.monotonic()
    deadline = started + budget_seconds
    attempts = 0
    while True:
        attempts += 1
        remaining = deadline - time.monotonic()
        try:
            return attempt(
                max(MIN_CONNECT_TIMEOUT_SECONDS, min(CONNECT_TIMEOUT_SECONDS, int(remaining)))
            )
        except failures as exc:
            # Drivers do not echo passwords, but scrub anyway: this text reaches CloudFormation.
            error = str(exc).replace(login.password, "***") if login.password else str(exc)
            refusal = refused(exc, error)
            if refusal is not None:
                raise LoginRefusedError(
                    f"[{refusal.sqlstate} {refusal.name}] {error}", sqlstate=refusal.sqlstate
                ) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or any(text in error for text in permanent):
                elapsed = time.monotonic() - started
                raise ConnectError(
                    f"could not connect to {target} after {attempts} attempts "
                    f"in {elapsed:.0f} s: {error}"
                ) from None
            delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** (attempts - 1), remaining)
            log("connect failed, retrying", attempt=attempts, retry_in_s=delay, error=error)
            time.sleep(delay)


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
