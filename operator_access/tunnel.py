"""The port forward: ``aws ssm start-session`` (which runs the Session Manager plugin) in a
process group of its own, so the terminal's Ctrl-C reaches this process only and the tunnel
is closed in order: SIGINT to the group (the CLI ignores it while the plugin runs; the plugin
ends the session on it), then SIGTERM, then SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from operator_access.common import AccessError, Clock
from operator_access.contract import PORT_FORWARD_DOCUMENT

OPEN_LIMIT_SECONDS = 60.0
"""How long the plugin may take to open the local port."""
STOP_STEPS: tuple[tuple[signal.Signals, float], ...] = (
    (signal.SIGINT, 5.0),
    (signal.SIGTERM, 3.0),
    (signal.SIGKILL, 3.0),
)


def free_port() -> int:
    """A local port nothing listens on (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something holds the local port. A bind, not a connect: a connect would open a
    stream through the tunnel to the database, which logs it as a broken login."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


@dataclass
class PortForward:
    """One ``start-session`` port forward; its output goes to ``log`` (shown when it fails)."""

    aws: str
    region: str
    target: str
    host: str
    port: int
    local_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def argv(self) -> list[str]:
        parameters = f"host={self.host},portNumber={self.port},localPortNumber={self.local_port}"
        return [
            self.aws, "ssm", "start-session", "--region", self.region, "--target", self.target,
            "--document-name", PORT_FORWARD_DOCUMENT, "--parameters", parameters,
        ]  # fmt: skip

    def start(self, clock: Clock) -> None:
        """Starts it and returns once the local port is open, else an AccessError."""
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 (the AWS CLI, found on the PATH)
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = clock.monotonic() + OPEN_LIMIT_SECONDS
        while not listening(self.local_port):
            if not self.alive():
                raise AccessError(f"the session did not start: {self.last_words()}")
            if clock.monotonic() >= deadline:
                raise AccessError(
                    f"the session opened no local port {self.local_port} within "
                    f"{OPEN_LIMIT_SECONDS:.0f} s: {self.last_words()}"
                )
            clock.sleep(0.1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def last_words(self) -> str:
        """The last line the CLI or the plugin wrote, for a one-line error."""
        with contextlib.suppress(OSError):
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines()]
            said = [line for line in lines if line]
            if said:
                return said[-1]
        code = self.process.returncode if self.process is not None else None
        return f"aws exited with {code} and said nothing"

    def stop(self, clock: Clock) -> None:
        """Ends the session: each signal in turn to its process group (the CLI and the plugin,
        which outlives the CLI if the CLI alone was killed) until none of it is left."""
        process = self.process
        if process is None:
            return
        for signum, seconds in STOP_STEPS:
            if not _group_left(process):
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signum)
            deadline = clock.monotonic() + seconds
            while _group_left(process) and clock.monotonic() < deadline:
                clock.sleep(0.05)


def _group_left(process: subprocess.Popen[bytes]) -> bool:
    """Whether a process of the session's group (``start_new_session``: its id is the CLI's)
    is still there; the CLI is reaped first, so its own exit does not count."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
