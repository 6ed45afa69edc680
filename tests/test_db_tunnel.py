"""``python -m operator_access db-tunnel`` (``make db-tunnel``) against moto and a fake ``aws``
that listens on the local port as the Session Manager plugin does: the printed client command
of each engine family, the login file (0600, in a private directory deleted on exit), the
admin password never on a command line or in an environment, Ctrl-C ending the session and the
command cleanly, and one line (exit 2 or 1) for every mistake."""

from __future__ import annotations

import json
import signal
import stat
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from botocore.stub import Stubber

from operator_access import contract
from operator_access.instance import POLL_SECONDS, START_LIMIT_SECONDS
from stacks.config import EnvironmentConfig, stack_name
from tests.access_helpers import CONFIG, Account, FakeAws, FakeClock, alive, config_with
from tests.access_helpers import account as account  # fixtures
from tests.access_helpers import fake_aws as fake_aws
from tests.access_helpers import programs as programs
from tests.preflight_helpers import REGION

POSTGRES = CONFIG.environment("staging")  # Aurora PostgreSQL behind RDS Proxy
MYSQL = CONFIG.environment("classic")  # RDS for MySQL, no proxy
PROXY = "three-tier-staging-db-proxy.proxy-c0ffee.us-east-1.rds.amazonaws.com"
WRITER = "three-tier-staging-db.cluster-c0ffee.us-east-1.rds.amazonaws.com"
MYSQL_HOST = "three-tier-classic-db.c0ffee.us-east-1.rds.amazonaws.com"
PASSWORD = 'Pa:ss\\w"rd#1-not-for-argv'
"""Characters each client file has to escape (a generated one never holds them all)."""


@dataclass
class Operator:
    """The person at the terminal: presses Enter ``enters`` times, then looks at the tunnel's
    directory and the fake plugin and presses Ctrl-C (a real SIGINT, as the terminal sends)."""

    programs: FakeAws
    enters: int = 0
    patient: bool = False
    """Never presses anything: waits for the session to end by itself."""
    directory: Path | None = None
    modes: dict[str, int] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    session_pid: int = 0
    session_alive: bool = False

    def enter(self, timeout: float) -> bool:
        if self.patient:  # the session ends by itself (FAKE_AWS_MODE=drops)
            self.programs.drop()
            time.sleep(min(timeout, 0.05))
            return False
        if self.enters:
            self.enters -= 1
            return True
        (self.directory,) = self.programs.tmp.glob("db-tunnel-*")
        self.modes[""] = stat.S_IMODE(self.directory.stat().st_mode)
        for path in self.directory.iterdir():
            self.modes[path.name] = stat.S_IMODE(path.stat().st_mode)
            self.texts[path.name] = path.read_text()
        self.session_pid = self.programs.entries("argv")[-1]["pid"]
        self.session_alive = alive(self.session_pid)
        signal.raise_signal(signal.SIGINT)
        return False


def data_stack(account: Account, env: EnvironmentConfig, instance: str, **changes: str) -> None:
    mysql = env is MYSQL
    outputs = {
        contract.ACCESS_INSTANCE_OUTPUT: instance,
        contract.ENDPOINT_OUTPUT: MYSQL_HOST if mysql else PROXY,
        contract.ADMIN_ENDPOINT_OUTPUT: MYSQL_HOST if mysql else WRITER,
        contract.PORT_OUTPUT: "3306" if mysql else "5432",
        contract.FAMILY_OUTPUT: "mysql" if mysql else "postgresql",
        contract.NAME_OUTPUT: "app",
        contract.SECRET_OUTPUT: master_secret(account, env),
        contract.READONLY_USER_OUTPUT: "app_readonly",
        **changes,
    }
    account.stack(env, "data", {key: value for key, value in outputs.items() if value})


def master_secret(account: Account, env: EnvironmentConfig) -> str:
    secret = {"username": "dbadmin", "password": PASSWORD, "engine": "postgres", "port": 5432}
    answer = account.client("secretsmanager").create_secret(
        Name=f"three-tier-{env.name}/db-master", SecretString=json.dumps(secret)
    )
    return str(answer["ARN"])


def tunnel(
    account: Account,
    capsys: pytest.CaptureFixture[str],
    env: EnvironmentConfig,
    *role: str,
    enters: int = 0,
    patient: bool = False,
) -> tuple[int, str, str, Operator]:
    operator = Operator(account.programs, enters=enters, patient=patient)
    code, out, err = account.run(capsys, "db-tunnel", env.name, *role, keys=operator)
    return code, out, err, operator


def flat(text: str) -> str:
    """The printout with its line wrapping undone."""
    return " ".join(text.split())


def forwarded(programs: FakeAws) -> dict[str, str]:
    (argv,) = programs.calls()
    parameters = argv[argv.index("--parameters") + 1]
    return dict(item.split("=", 1) for item in parameters.split(","))


def test_readonly_postgresql_prints_psql_with_an_iam_token_file_and_closes_on_ctrl_c(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = account.instance()
    data_stack(account, POSTGRES, instance)

    code, out, err, seen = tunnel(account, capsys, POSTGRES, enters=1)

    assert code == 0
    assert "Traceback" not in out + err
    (argv,) = account.programs.calls()
    local = int(forwarded(account.programs)["localPortNumber"])
    assert argv == [
        "ssm", "start-session", "--region", REGION, "--target", instance,
        "--document-name", "AWS-StartPortForwardingSessionToRemoteHost",
        "--parameters", f"host={PROXY},portNumber=5432,localPortNumber={local}",
    ]  # fmt: skip
    assert seen.directory is not None
    pgpass = seen.directory / "pgpass"
    command = (
        f"psql 'host=127.0.0.1 port={local} dbname=app user=app_readonly sslmode=require "
        f"passfile={pgpass}'"
    )
    assert f"\n  {command}\n" in out
    assert "It lasts 15 minutes (until " in flat(out)
    assert f"certificate names {PROXY}, not 127.0.0.1" in flat(out)
    # The token, signed for the proxy (the real host), in a 0600 file of a 0700 directory.
    assert (seen.modes[""], seen.modes["pgpass"]) == (0o700, 0o600)
    escaped_host = PROXY + "\\:5432"
    assert seen.texts["pgpass"].startswith(
        f"127.0.0.1:{local}:*:app_readonly:{escaped_host}/?Action=connect&DBUser=app_readonly&"
    )
    assert "new token in" in err  # Enter re-minted it
    # Ctrl-C: the plugin got SIGINT and is gone, the directory with it.
    assert seen.session_alive
    assert [entry["name"] for entry in account.programs.entries("signal")] == ["SIGINT"]
    assert not alive(seen.session_pid)
    assert not seen.directory.exists()
    assert err.splitlines()[-1] == f"db-tunnel: tunnel closed, {seen.directory} deleted"


def test_readonly_mysql_prints_mysql_with_its_option_file_and_the_cleartext_plugin(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    data_stack(account, MYSQL, account.instance())

    code, out, err, seen = tunnel(account, capsys, MYSQL, "readonly")

    assert (code, "Traceback" in err) == (0, False)
    assert seen.directory is not None
    local = forwarded(account.programs)["localPortNumber"]
    assert forwarded(account.programs)["host"] == MYSQL_HOST
    command = (
        f"mysql --defaults-extra-file={seen.directory / 'client.cnf'} --host=127.0.0.1 "
        f"--port={local} --user=app_readonly --ssl-mode=REQUIRED --enable-cleartext-plugin app"
    )
    assert f"\n  {command}\n" in out
    assert "--ssl-mode=REQUIRED, not VERIFY_IDENTITY" in flat(out)
    assert seen.modes["client.cnf"] == 0o600
    assert seen.texts["client.cnf"].startswith(f'[client]\npassword="{MYSQL_HOST}:3306/?Action=')


@pytest.mark.parametrize("env", [POSTGRES, MYSQL], ids=["postgresql", "mysql"])
def test_admin_reads_the_master_secret_into_the_file_only_and_forwards_to_the_writer(
    account: Account, capsys: pytest.CaptureFixture[str], env: EnvironmentConfig
) -> None:
    data_stack(account, env, account.instance())

    code, out, err, seen = tunnel(account, capsys, env, "admin")

    assert code == 0
    writer = MYSQL_HOST if env is MYSQL else WRITER
    assert forwarded(account.programs)["host"] == writer
    # Nowhere but in the file: not printed, not in the CLI's argv or environment.
    assert PASSWORD not in out + err
    assert PASSWORD not in account.programs.log.read_text()
    assert "--enable-cleartext-plugin" not in out
    assert "user=dbadmin " in out or "--user=dbadmin " in out
    assert "(the master user: every privilege)" in out
    if env is MYSQL:
        assert seen.texts["client.cnf"] == '[client]\npassword="Pa:ss\\\\w\\"rd#1-not-for-argv"\n'
    else:
        local = forwarded(account.programs)["localPortNumber"]
        assert seen.texts["pgpass"] == (
            f'127.0.0.1:{local}:*:dbadmin:Pa\\:ss\\\\w"rd#1-not-for-argv\n'
        )
    assert seen.directory is not None
    assert not seen.directory.exists()


def test_a_stopped_access_instance_is_started_first(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = account.instance()
    account.client("ec2").stop_instances(InstanceIds=[instance])
    data_stack(account, POSTGRES, instance)

    code, _, err, _ = tunnel(account, capsys, POSTGRES)

    assert code == 0
    assert f"db-tunnel: access instance {instance} is stopped: starting it" in err
    assert account.state(instance) == "running"


def test_an_instance_that_never_comes_online_ends_the_bounded_wait_in_one_line(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = account.instance()
    account.ssm.offline.add(instance)
    data_stack(account, POSTGRES, instance)
    clock = FakeClock()

    code, out, err = account.run(capsys, "db-tunnel", "staging", clock=clock)

    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert f"{instance} is running but its SSM Agent is not online after 300 s" in err
    assert clock.elapsed == pytest.approx(START_LIMIT_SECONDS)
    assert set(clock.slept) == {POLL_SECONDS}
    assert account.programs.calls() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("db-tunnel", "staging", "owner"),
            "unknown ROLE 'owner': readonly (the default) or admin",
        ),
        (("db-tunnel",), "usage: make db-tunnel ENV=<environment> [ROLE=readonly|admin]"),
        (("db-tunnel", "staging", "admin", "x"), "usage: make db-tunnel"),
        (("db-tunnel", "nowhere"), "not a configured environment"),
        (("tunnel", "staging"), "usage: python -m operator_access db-tunnel"),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(
    account: Account, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    code, out, err = account.run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err
    assert err.count("\n") == 1
    assert account.programs.calls() == []


def test_missing_outputs_or_stack_are_one_line(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = account.run(capsys, "db-tunnel", "staging")
    assert (code, err) == (
        1,
        f"db-tunnel: stack three-tier-staging-data does not exist in {REGION}\n",
    )

    data_stack(account, POSTGRES, "", **{contract.READONLY_USER_OUTPUT: ""})
    code, out, err = account.run(capsys, "db-tunnel", "staging")
    assert (code, out) == (1, "")
    assert err == (
        f"db-tunnel: stack {stack_name(CONFIG, POSTGRES, 'data')} has no output "
        "AccessInstanceId, DatabaseReadonlyUser (is the data stack deployed with the access "
        "instance?)\n"
    )


@pytest.mark.parametrize(
    ("aws", "plugin", "message"),
    [
        (False, True, "the AWS CLI (aws) is not on the PATH: install AWS CLI v2, https://"),
        (
            True,
            False,
            "the Session Manager plugin (session-manager-plugin) is not on the PATH: install "
            "it, https://docs.aws.amazon.com/systems-manager/latest/userguide/"
            "session-manager-working-with-install-plugin.html",
        ),
    ],
)
def test_a_missing_program_is_one_line_saying_where_to_get_it(
    account: Account,
    capsys: pytest.CaptureFixture[str],
    aws: bool,
    plugin: bool,
    message: str,
) -> None:
    data_stack(account, POSTGRES, account.instance())
    account.programs.install(aws=aws, plugin=plugin)
    code, out, err = account.run(capsys, "db-tunnel", "staging")
    assert (code, out) == (1, "")
    assert err.startswith(f"db-tunnel: {message}")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("refused", "the session did not start: An error occurred (TargetNotConnected)"),
        ("drops", "the session ended: SessionId: operator-0f1e2d3c4b5a69788 : session timed out"),
    ],
)
def test_a_session_that_fails_or_ends_is_one_line_and_leaves_nothing(
    account: Account,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    message: str,
) -> None:
    data_stack(account, POSTGRES, account.instance())
    monkeypatch.setenv("FAKE_AWS_MODE", mode)

    code, _, err, seen = tunnel(account, capsys, POSTGRES, patient=True)

    assert code == 1
    assert err.splitlines()[-1].startswith(f"db-tunnel: {message}")
    assert seen.directory is None  # the operator never got to press anything
    assert list(account.programs.tmp.iterdir()) == []


def test_admin_without_the_db_admins_policy_says_which_policy_in_one_line_before_any_start(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = account.instance()
    account.client("ec2").stop_instances(InstanceIds=[instance])
    data_stack(account, POSTGRES, instance)
    denied = account.session.client("secretsmanager")
    stubber = Stubber(denied)
    stubber.add_client_error("get_secret_value", "AccessDeniedException", "not authorized")
    stubber.activate()
    account.made["secretsmanager"] = denied

    code, out, err = account.run(capsys, "db-tunnel", "staging", "admin")

    assert (code, out) == (1, "")
    assert err == (
        "db-tunnel: GetSecretValue: AccessDeniedException: not authorized (ROLE=admin reads the "
        "master secret: it needs the ops stack's DatabaseAdminsPolicyArn policy as well as "
        "OperatorsPolicyArn)\n"
    )
    assert account.programs.calls() == []
    assert list(account.programs.tmp.iterdir()) == []
    assert account.state(instance) == "stopped"


def test_an_environment_without_operator_access_refuses_in_one_line(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = replace(POSTGRES, operator_access=replace(POSTGRES.operator_access, enabled=False))
    code, out, err = account.run(capsys, "db-tunnel", "staging", config=config_with(closed))
    assert (code, out) == (2, "")
    assert err == "db-tunnel: no access instance in staging: operator_access.enabled is False\n"
    assert account.programs.calls() == []
