"""``python -m operator_access db-tunnel ENV [readonly|admin]`` (``make db-tunnel``).

Reads the data stack's outputs, starts the access instance if it is stopped, forwards a free
local port to the database through it (Session Manager, no inbound rule anywhere), writes the
login into a 0600 client file in a private temporary directory, prints the ``psql`` (or
``mysql``) command that reads it, and holds the tunnel until Ctrl-C; then it ends the session
and deletes the directory (exit 0).

readonly (the default): the data tier's read-only user with an IAM token, through the
clients' endpoint (the proxy where there is one); the token lasts 15 minutes, is re-minted every
10 and on Enter. admin: the master user with the master secret's password, straight to the
writer (the proxy takes IAM logins only).
"""

from __future__ import annotations

import contextlib
import select
import shutil
import signal
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Protocol, TextIO

from botocore.exceptions import ClientError

from operator_access import contract
from operator_access.common import (
    AccessError,
    Clients,
    Clock,
    UsageError,
    clock_time,
    session_programs,
    stack_outputs,
)
from operator_access.contract import DB_ADMINS_POLICY_OUTPUT, OPERATORS_POLICY_OUTPUT
from operator_access.instance import ensure_online
from operator_access.login import LOCAL_HOST, Login, master_secret
from operator_access.tunnel import PortForward, free_port
from release.aws import aws_failure
from stacks.config import AppConfig, EnvironmentConfig

ROLES = ("readonly", "admin")
REMINT_SECONDS = 600.0
"""A new token every 10 minutes, well inside the 15 it lasts."""
POLL_SECONDS = 0.5
Say = Callable[[str], None]


class Keys(Protocol):
    """The operator's Enter key."""

    def enter(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds; True when Enter was pressed."""
        ...


@dataclass
class TerminalKeys:
    """Enter on a terminal; anything else (a pipe, a closed stdin) only waits."""

    stream: TextIO
    clock: Clock

    def __post_init__(self) -> None:
        try:
            self.live = self.stream.isatty()
        except (AttributeError, OSError, ValueError):
            self.live = False

    def enter(self, timeout: float) -> bool:
        if not self.live:
            self.clock.sleep(timeout)
            return False
        ready, _, _ = select.select([self.stream], [], [], timeout)
        if not ready:
            return False
        if self.stream.readline() == "":  # end of input (Ctrl-D): stop listening
            self.live = False
        return self.live


@dataclass(frozen=True)
class Target:
    """What the tunnel forwards to and who logs in, from the data stack's outputs."""

    instance: str
    host: str
    port: int
    family: str
    database: str
    user: str
    secret_arn: str | None
    """The master secret (admin), else None (read-only, IAM)."""

    @classmethod
    def of(cls, outputs: Mapping[str, str], role: str, stack: str) -> Target:
        family = outputs[contract.FAMILY_OUTPUT]
        if family not in contract.FAMILIES:
            raise AccessError(
                f"stack {stack}'s output {contract.FAMILY_OUTPUT} is '{family}', not one of "
                f"{', '.join(contract.FAMILIES)}"
            )
        admin = role == "admin"
        return cls(
            instance=outputs[contract.ACCESS_INSTANCE_OUTPUT],
            host=outputs[contract.ADMIN_ENDPOINT_OUTPUT if admin else contract.ENDPOINT_OUTPUT],
            port=int(outputs[contract.PORT_OUTPUT]),
            family=family,
            database=outputs[contract.NAME_OUTPUT],
            user=outputs[contract.READONLY_USER_OUTPUT],
            secret_arn=outputs[contract.SECRET_OUTPUT] if admin else None,
        )


def parse(argv: list[str]) -> tuple[str, str]:
    """ENV and ROLE, or a UsageError."""
    match argv:
        case [env_name]:
            return env_name, "readonly"
        case [env_name, role] if role in ROLES:
            return env_name, role
        case [_, role]:
            raise UsageError(f"unknown ROLE '{role}': readonly (the default) or admin")
    raise UsageError("usage: make db-tunnel ENV=<environment> [ROLE=readonly|admin]")


def check_config(env: EnvironmentConfig) -> None:
    """A UsageError when the environment's config gives it no access instance."""
    if not env.operator_access.enabled:
        raise UsageError(f"no access instance in {env.name}: operator_access.enabled is False")


def run(
    env: EnvironmentConfig,
    role: str,
    clients: Clients,
    app: AppConfig,
    clock: Clock,
    keys: Keys,
    say: Say,
) -> None:
    """Opens, holds and closes the tunnel (``env`` has passed ``check_config``); returns when
    the operator stopped it (Ctrl-C, SIGTERM or SIGHUP), raises AccessError when it could not
    open or ended by itself."""
    aws = session_programs()
    why = "is the data stack deployed with the access instance?"
    outputs = stack_outputs(clients, app, env, contract.DATA_TIER, contract.DATA_OUTPUTS, why)
    stack = f"{app.app_name}-{env.name}-{contract.DATA_TIER}"
    target = Target.of(outputs, role, stack)
    # Read before the instance starts: a caller without the secret learns it at once.
    master = _master(clients, target.secret_arn) if target.secret_arn else None
    ensure_online(clients.ec2, clients.ssm, target.instance, clock, say)
    closed = False
    with _private_directory() as directory:
        login, expires = _login(target, master, env, clients, clock, directory)
        forward = PortForward(
            aws, env.region, target.instance, target.host, target.port, login.local_port,
            directory / "session.log",
        )  # fmt: skip
        try:
            with _operator_stops():
                forward.start(clock)
                _announce(say, env, role, target, login, expires)
                _hold(forward, login, keys, clients, env, clock, say)
        except KeyboardInterrupt:
            closed = True
        finally:
            with _ignoring_interrupts():
                forward.stop(clock)
    if closed:
        say(f"tunnel closed, {directory} deleted")


def _master(clients: Clients, secret_arn: str) -> tuple[str, str]:
    """The master user and password; refused access says which policy is missing."""
    try:
        return master_secret(clients.secretsmanager, secret_arn)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "AccessDeniedException":
            raise
        raise AccessError(
            f"{aws_failure(error)} (ROLE=admin reads the master secret: it needs the ops "
            f"stack's {DB_ADMINS_POLICY_OUTPUT} policy as well as {OPERATORS_POLICY_OUTPUT})"
        ) from None


def _login(
    target: Target,
    master: tuple[str, str] | None,
    env: EnvironmentConfig,
    clients: Clients,
    clock: Clock,
    directory: Path,
) -> tuple[Login, datetime | None]:
    """The login file in ``directory``: the master's password, else a fresh token; when the
    token expires (None: a password)."""
    user, password = master if master is not None else (target.user, None)
    login = Login(
        family=target.family,
        host=target.host,
        port=target.port,
        database=target.database,
        user=user,
        local_port=free_port(),
        directory=directory,
        iam=master is None,
    )
    if password is not None:
        login.write_secret(password)
        return login, None
    return login, login.write_token(clients.rds, env.region, clock.now())


def _announce(
    say: Say, env: EnvironmentConfig, role: str, target: Target, login: Login,
    expires: datetime | None,
) -> None:  # fmt: skip
    say(
        f"tunnel open: {LOCAL_HOST}:{login.local_port} -> "
        f"{target.host}:{target.port} through {target.instance} ({env.name})"
    )
    who = (
        f"{login.user} (read-only, IAM token)"
        if role == "readonly"
        else f"{login.user} (the master user: every privilege)"
    )
    reads = (
        "which the command reads: it is in no command line, environment variable or shell history"
    )
    if expires is not None:
        secret = (
            f"The token is in {login.secret_file} (mode 0600), {reads}. It lasts 15 minutes "
            f"(until {clock_time(expires)}) and is needed only to log in: a session open by "
            "then stays open. It is re-minted every 10 minutes; press Enter for a new one now."
        )
    else:
        secret = (
            f"The password (secret {target.secret_arn}) is in {login.secret_file} (mode "
            f"0600), {reads}. It is the value read now: after a rotation, run db-tunnel again."
        )
    notes = [secret, login.tls_note, f"Ctrl-C closes the tunnel and deletes {login.directory}."]
    print(f"\nConnect as {who} from another terminal:\n\n  {login.command()}\n", flush=True)
    print("\n".join(_bullet(note) for note in notes), flush=True)


def _bullet(text: str) -> str:
    """``- text``, wrapped at 100 columns (paths and host names kept whole)."""
    return textwrap.fill(
        text,
        width=100,
        initial_indent="- ",
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _hold(
    forward: PortForward,
    login: Login,
    keys: Keys,
    clients: Clients,
    env: EnvironmentConfig,
    clock: Clock,
    say: Say,
) -> None:
    """Until the session ends (an AccessError) or the operator stops it (KeyboardInterrupt);
    re-mints the read-only token on Enter and every REMINT_SECONDS."""
    due = clock.monotonic() + REMINT_SECONDS
    while forward.alive():
        pressed = keys.enter(POLL_SECONDS)
        if login.iam and (pressed or clock.monotonic() >= due):
            expires = login.write_token(clients.rds, env.region, clock.now())
            say(f"new token in {login.secret_file}, valid until {clock_time(expires)}")
            due = clock.monotonic() + REMINT_SECONDS
    raise AccessError(f"the session ended: {forward.last_words()}")


@contextlib.contextmanager
def _private_directory() -> Iterator[Path]:
    """A directory only this user can read (``mkdtemp`` makes it 0700), deleted on the way out
    whatever happens."""
    directory = Path(tempfile.mkdtemp(prefix="db-tunnel-"))
    try:
        yield directory
    finally:
        with _ignoring_interrupts():
            shutil.rmtree(directory, ignore_errors=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _operator_stops() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) stop the tunnel as Ctrl-C does."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _ignoring_interrupts() -> Iterator[None]:
    """A second Ctrl-C while the tunnel is being closed does not cut the cleanup short."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def say_line(line: str) -> None:
    print(f"db-tunnel: {line}", file=sys.stderr, flush=True)
