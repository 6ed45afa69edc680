"""What the operator commands' tests share (``test_db_tunnel.py``, ``test_shell.py``): no test
here, only fixtures and helpers.

moto answers CloudFormation, EC2, RDS (the token is signed locally), Secrets Manager and ECS;
``FakeSsm`` answers DescribeInstanceInformation, which moto lacks, from moto's EC2 (a running
instance is online unless a test says not). A fake ``aws`` (a small Python script, alone on the
PATH with a fake ``session-manager-plugin``) records its argv and environment; for a port
forward it listens on the local port, as the plugin does, until SIGINT or SIGTERM (or, with
``FAKE_AWS_MODE=drops``, until the test drops it; ``refused``: it never listens).
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from cdk_constructs.options import WebRuntime
from operator_access.__main__ import main
from operator_access.common import Clients, Clock
from stacks.config import APP_CONFIG, AppConfig, EnvironmentConfig, stack_name
from tests.preflight_helpers import ACCOUNT, REGION, core_session
from tests.preflight_helpers import fake_aws as fake_aws  # moto answers every call

CONFIG: AppConfig = replace(
    APP_CONFIG,
    environments=tuple(replace(env, account=ACCOUNT) for env in APP_CONFIG.environments),
)
"""The shipped environments in moto's account (all of them in us-east-1 but spa)."""

FAKE_AWS = """#!{python}
import json, os, signal, socket, sys, time

LOG = os.environ["FAKE_AWS_LOG"]
MODE = os.environ.get("FAKE_AWS_MODE", "")


def record(**entry):
    with open(LOG, "a") as log:
        log.write(json.dumps(entry) + "\\n")


argv = sys.argv[1:]
record(event="argv", argv=argv, environ=dict(os.environ), pid=os.getpid(), pgid=os.getpgid(0))
if argv[:2] != ["ssm", "start-session"] or "--parameters" not in argv:
    sys.exit(int(os.environ.get("FAKE_AWS_EXIT", "0")))
if MODE == "refused":
    print("An error occurred (TargetNotConnected) when calling the StartSession operation: "
          f"{{argv[argv.index('--target') + 1]}} is not connected.", flush=True)
    sys.exit(254)
parameters = dict(item.split("=", 1) for item in argv[argv.index("--parameters") + 1].split(","))
stopped = []
signal.signal(signal.SIGINT, lambda signum, frame: stopped.append(signum))
signal.signal(signal.SIGTERM, lambda signum, frame: stopped.append(signum))
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(parameters["localPortNumber"])))
server.listen()
print("", flush=True)
print("Starting session with SessionId: operator-0f1e2d3c4b5a69788", flush=True)
print(f"Port {{parameters['localPortNumber']}} opened for sessionId operator-0f1e2d3c4b5a69788.")
print("Waiting for connections...", flush=True)
record(event="listening", port=int(parameters["localPortNumber"]))
end = time.monotonic() + 30
while not stopped and time.monotonic() < end:
    if MODE == "drops" and os.path.exists(LOG + ".drop"):  # the test says when
        break
    time.sleep(0.02)
server.close()
if stopped:
    record(event="signal", name=signal.Signals(stopped[0]).name)
    print("\\n\\nExiting session with sessionId: operator-0f1e2d3c4b5a69788.\\n", flush=True)
    sys.exit(0)
print("SessionId: operator-0f1e2d3c4b5a69788 : session timed out", flush=True)
sys.exit(0)
"""

FAKE_PLUGIN = """#!/bin/sh
echo "The Session Manager plugin was installed successfully. Use the AWS CLI to start a session."
"""


@dataclass
class FakeAws:
    """The fake programs' directory (the whole PATH) and what ``aws`` recorded."""

    bin: Path
    log: Path

    @property
    def tmp(self) -> Path:
        """Where the commands make their temporary directories."""
        return self.log.parent / "tmp"

    def install(self, *, aws: bool = True, plugin: bool = True) -> None:
        for name, text, wanted in (
            ("aws", FAKE_AWS.format(python=sys.executable), aws),
            ("session-manager-plugin", FAKE_PLUGIN, plugin),
        ):
            path = self.bin / name
            path.unlink(missing_ok=True)
            if wanted:
                path.write_text(text)
                path.chmod(0o755)

    def entries(self, event: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [entry for entry in found if event is None or entry["event"] == event]

    def drop(self) -> None:
        """Makes a listening port forward (``FAKE_AWS_MODE=drops``) end by itself."""
        Path(f"{self.log}.drop").touch()

    def calls(self) -> list[list[str]]:
        """Each run's argv, without the program's own path."""
        return [entry["argv"] for entry in self.entries("argv")]


@pytest.fixture
def programs(fake_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """The fake ``aws`` and ``session-manager-plugin``, alone on the PATH; temporary
    directories under ``tmp_path/tmp``."""
    found = FakeAws(tmp_path / "bin", tmp_path / "aws.log")
    found.bin.mkdir()
    found.install()
    found.tmp.mkdir()
    monkeypatch.setenv("PATH", str(found.bin))
    monkeypatch.setenv("FAKE_AWS_LOG", str(found.log))
    monkeypatch.setattr("tempfile.tempdir", str(found.tmp))
    return found


class FakeSsm:
    """moto's SSM client, plus DescribeInstanceInformation from moto's EC2: a running instance
    is online, unless it is in ``offline``."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.offline: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.account.client("ssm"), name)

    def describe_instance_information(self, Filters: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        (wanted,) = [f["Values"] for f in Filters if f["Key"] == "InstanceIds"]
        ec2 = self.account.client("ec2")
        reservations = ec2.describe_instances(InstanceIds=wanted)["Reservations"]
        running = [
            i["InstanceId"]
            for r in reservations
            for i in r["Instances"]
            if i["State"]["Name"] == "running" and i["InstanceId"] not in self.offline
        ]
        return {
            "InstanceInformationList": [
                {"InstanceId": i, "PingStatus": "Online", "ResourceType": "EC2Instance"}
                for i in running
            ]
        }


@dataclass
class FakeClock(Clock):
    """Time that moves only when something sleeps."""

    elapsed: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.monotonic = lambda: self.elapsed
        self.sleep = self._sleep

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.elapsed += seconds


@dataclass
class Account:
    """The environments' region of moto's account."""

    session: boto3.Session
    programs: FakeAws
    made: dict[str, Any] = field(default_factory=dict)
    ssm: FakeSsm = field(init=False)

    def __post_init__(self) -> None:
        self.ssm = FakeSsm(self)

    def client(self, service: str) -> Any:
        if service not in self.made:
            self.made[service] = self.session.client(service)  # type: ignore[call-overload]
        return self.made[service]

    def clients(self, env: EnvironmentConfig) -> Clients:
        names = ("cloudformation", "ec2", "rds", "secretsmanager", "ecs")
        return Clients(ssm=self.ssm, **{name: self.client(name) for name in names})

    def stack(self, env: EnvironmentConfig, tier: str, outputs: Mapping[str, str]) -> None:
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        self.client("cloudformation").create_stack(
            StackName=stack_name(CONFIG, env, tier), TemplateBody=json.dumps(template)
        )

    def instance(self, *, tags: Mapping[str, str] | None = None) -> str:
        options: dict[str, Any] = {}
        if tags:
            tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
            options["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tag_list}]
        answer = self.client("ec2").run_instances(
            ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="t4g.nano", **options
        )
        return str(answer["Instances"][0]["InstanceId"])

    def state(self, instance: str) -> str:
        reservations = self.client("ec2").describe_instances(InstanceIds=[instance])
        return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])

    def run(
        self,
        capsys: pytest.CaptureFixture[str],
        *argv: str,
        config: AppConfig = CONFIG,
        **options: Any,
    ) -> tuple[int, str, str]:
        code = main(list(argv), config, self.clients, **options)
        captured = capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def account(programs: FakeAws) -> Account:
    return Account(boto3.Session(botocore_session=core_session(), region_name=REGION), programs)


def with_runtime(env: EnvironmentConfig, runtime: WebRuntime) -> EnvironmentConfig:
    """``env`` with another ``web.runtime`` and nothing else changed. Built without validation:
    the commands read only the runtime, and a valid environment of each runtime needs settings
    (sizes, API kind, release) these tests do not care about."""
    web = copy.copy(env.web)
    object.__setattr__(web, "runtime", runtime)
    changed = copy.copy(env)
    object.__setattr__(changed, "web", web)
    return changed


def config_with(*environments: EnvironmentConfig) -> AppConfig:
    """CONFIG whose environments of the same names are replaced by these."""
    names = {env.name for env in environments}
    kept = tuple(env for env in CONFIG.environments if env.name not in names)
    found = copy.copy(CONFIG)
    object.__setattr__(found, "environments", kept + environments)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
