"""``make local`` as a human uses it: it starts without aws_cdk, prints calls that work when
pasted, and Ctrl-C ends it with no traceback, on PostgreSQL or (``ENGINE=mysql``) MariaDB."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local_stack.database import MYSQL, POSTGRESQL
from local_stack.options import Shape, requested
from local_stack.stack import READ_ONLY_CLIENT_ID
from tests.conftest import REPO_ROOT

READY = "Ctrl-C stops everything."


def make_local_pythonpath() -> str:
    """The PYTHONPATH `make local` runs with, read from the Makefile's recipe."""
    recipe = re.search(
        r"^local:.*\n\tPYTHONPATH=(\S+) \$\(PY\) -m local_stack$",
        (REPO_ROOT / "Makefile").read_text(),
        re.MULTILINE,
    )
    assert recipe, "the Makefile's local target runs PYTHONPATH=... $(PY) -m local_stack"
    return recipe.group(1)


def local_environment() -> dict[str, str]:
    return os.environ | {"PYTHONPATH": make_local_pythonpath()}


def test_make_local_imports_no_cdk() -> None:
    """aws_cdk starts a jsii node process: slow to import, and its exit traceback on Ctrl-C."""
    check = (
        "import local_stack.stack, sys;"
        " assert not any(m.startswith(('aws_cdk','jsii')) for m in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO_ROOT,
        env=local_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@dataclass
class LocalRun:
    """``python -m local_stack`` in its own process group, as a terminal runs it."""

    process: subprocess.Popen[str]
    stdout: queue.Queue[str]
    stderr: Path

    def banner(self, timeout: float = 60) -> list[str]:
        """The lines printed up to the ready line."""
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while not lines or lines[-1] != READY:
            try:
                lines.append(self.stdout.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"no {READY!r} line; printed {lines}, {self.stderr.read_text()}")
        return lines

    def ctrl_c(self) -> int:
        """SIGINT to the whole process group, as Ctrl-C in a terminal sends it."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=30)

    def rest_of_stdout(self) -> list[str]:
        lines: list[str] = []
        while not self.stdout.empty():
            lines.append(self.stdout.get())
        return lines


@pytest.fixture(params=[POSTGRESQL, MYSQL])
def make_local(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalRun]:
    """``make local ENGINE=<each engine family>``."""
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack"],
            cwd=REPO_ROOT,
            env=local_environment() | {"ENGINE": request.param},
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # the handler logs every request to stdout
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield LocalRun(process, lines, stderr)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # stops as cleanly as Ctrl-C
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        reader.join(timeout=5)


def pasted(line: str) -> str:
    """What a shell prints for one printed command line, run as pasted."""
    result = subprocess.run(
        shlex.split(line), capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed lines are curl commands")
def test_make_local_prints_working_calls_and_ctrl_c_stops_it_cleanly(make_local: LocalRun) -> None:
    lines = make_local.banner()
    (api_url,) = [line.split()[2] for line in lines if line.startswith("items API:")]
    (add_item,) = [line for line in lines if line.startswith("  curl") and "Bearer" in line]
    (read_token,) = [line for line in lines if line.startswith("  curl") and " -u " in line]
    (reader,) = [line for line in lines if line.startswith("Read-only client")]
    (database,) = [line.split(maxsplit=1)[1] for line in lines if line.startswith("database:")]
    assert "MariaDB" in database or "mysql://" in database or "PostgreSQL" in database

    # The write-scoped token's line adds an item.
    created = json.loads(pasted(add_item))
    assert (created["name"], created["version"]) == ("from curl", 1)

    # The read-only client's credentials, shown, mint a token that reads but cannot write.
    (token_url,) = re.findall(r"token URL (\S+)", reader)
    assert f"id {READ_ONLY_CLIENT_ID}, secret " in reader
    assert token_url in read_token
    token = json.loads(pasted(read_token))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{api_url}items", headers=headers, timeout=10)
    assert [item["name"] for item in listed.json()["items"]] == ["from curl"]
    refused = httpx.post(f"{api_url}items", json={"name": "x"}, headers=headers, timeout=10)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "INSUFFICIENT_SCOPE")

    assert make_local.ctrl_c() == 0
    stderr = make_local.stderr.read_text()
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    assert make_local.rest_of_stdout()[-1] == "stopped."


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        ([], {}, (Shape.DEFAULT, POSTGRESQL)),
        ([], {"ENGINE": "mysql", "SHAPE": "spa"}, (Shape.SPA, MYSQL)),
        (["--engine", "postgresql"], {"ENGINE": "mysql"}, (Shape.DEFAULT, POSTGRESQL)),
        (["--engine", "mysql", "--shape", "spa"], {}, (Shape.SPA, MYSQL)),
    ],
)
def test_make_local_takes_the_engine_from_the_flag_or_engine(
    argv: list[str], environ: dict[str, str], expected: tuple[Shape, str]
) -> None:
    assert requested(argv, environ) == expected


@pytest.mark.parametrize(
    ("argv", "environ", "error"),
    [
        ([], {"ENGINE": "oracle"}, "ENGINE must be one of postgresql, mysql, not 'oracle'"),
        (["--engine", "mariadb"], {}, "argument --engine: invalid choice: 'mariadb'"),
        ([], {"SHAPE": "mobile"}, "SHAPE must be one of default, spa, not 'mobile'"),
    ],
)
def test_an_unknown_engine_is_one_line_of_error(
    argv: list[str], environ: dict[str, str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        requested(argv, environ)

    assert exited.value.code == 2
    output = capsys.readouterr().err
    assert output.startswith("usage: python -m local_stack")  # argparse's usage, then the line
    assert output.strip().splitlines()[-1].startswith(f"python -m local_stack: error: {error}")
