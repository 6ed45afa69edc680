"""``python -m operator_access shell`` (``make shell``) against moto and a fake ``aws``: ECS Exec
into a RUNNING task of the web service (fargate), a Session Manager shell on an online
instance of the web Auto Scaling group (ec2), a one-line refusal where no shell can be had
(app_runner, express, static_site), and one line for every mistake."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from moto.ecs.models import ecs_backends
from moto.moto_api import state_manager

from cdk_constructs.options import WebRuntime
from operator_access import contract
from operator_access.shell import NO_SHELL
from stacks.config import EnvironmentConfig
from tests.access_helpers import CONFIG, Account, config_with, with_runtime
from tests.access_helpers import account as account  # fixtures
from tests.access_helpers import fake_aws as fake_aws
from tests.access_helpers import programs as programs
from tests.preflight_helpers import ACCOUNT, REGION

STAGING = CONFIG.environment("staging")
FARGATE = replace(STAGING, operator_access=replace(STAGING.operator_access, container_shell=True))
"""Fargate with ECS Exec (``operator_access.container_shell``)."""
SHELLS = config_with(FARGATE)
CLUSTER = "three-tier-staging-web"
SERVICE = "three-tier-staging-web-Service-X1"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}"
GROUP = "three-tier-staging-web-Instances-X1"


@pytest.fixture
def ecs_tasks(account: Account) -> Iterator[Any]:
    """The web cluster with its task definition; moto's tasks stay in the status a test gives
    them (by default each DescribeTasks moves a task one step towards STOPPED)."""
    state_manager.set_transition(
        model_name="ecs::task", transition={"progression": "manual", "times": 10**9}
    )
    ecs = account.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "web:1", "memory": 512}]
    )
    yield ecs
    state_manager.unset_transition("ecs::task")


def task(ecs: Any, *, status: str, group: str = f"service:{SERVICE}", exec_on: bool = True) -> str:
    (started,) = ecs.run_task(
        cluster=CLUSTER, taskDefinition="web", launchType="FARGATE", group=group
    )["tasks"]
    arn = str(started["taskArn"])
    held = ecs_backends[ACCOUNT][REGION].tasks[CLUSTER][arn]
    held.status = status
    # moto leaves enableExecuteCommand out of DescribeTasks unless the task has the attribute.
    setattr(held, "enable_execute_command", exec_on)  # noqa: B010
    if status == "STOPPED":
        held.desired_status = "STOPPED"
    return arn


def web_stack(account: Account, env: EnvironmentConfig) -> None:
    """The ECS service's ARN or, on the EC2 runtime, the group's name."""
    service = GROUP if env.web.runtime is WebRuntime.EC2 else SERVICE_ARN
    account.stack(env, "web", {contract.SERVICE_OUTPUT: service})


def test_fargate_execs_into_the_web_container_of_a_running_task_of_the_service(
    account: Account, capsys: pytest.CaptureFixture[str], ecs_tasks: Any
) -> None:
    web_stack(account, FARGATE)
    task(ecs_tasks, status="STOPPED")
    task(ecs_tasks, status="RUNNING", group="service:another-service")
    running = task(ecs_tasks, status="RUNNING")
    task(ecs_tasks, status="PROVISIONING")

    code, out, err = account.run(capsys, "shell", "staging", config=SHELLS)

    assert (code, out) == (0, "")
    assert account.programs.calls() == [
        [
            "ecs", "execute-command", "--region", REGION, "--cluster", CLUSTER,
            "--task", running, "--container", "web", "--interactive", "--command", "/bin/sh",
        ]
    ]  # fmt: skip
    task_id = running.rsplit("/", 1)[-1]
    assert err == f"shell: task {task_id} of service {SERVICE} ({CLUSTER}), container web\n"


def test_the_aws_cli_exit_code_is_the_commands(
    account: Account,
    capsys: pytest.CaptureFixture[str],
    ecs_tasks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    web_stack(account, FARGATE)
    task(ecs_tasks, status="RUNNING")
    monkeypatch.setenv("FAKE_AWS_EXIT", "254")
    assert account.run(capsys, "shell", "staging", config=SHELLS)[0] == 254


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ((), f"service {SERVICE} in cluster {CLUSTER} has no RUNNING task"),
        (("STOPPED",), f"service {SERVICE} in cluster {CLUSTER} has no RUNNING task"),
        (
            ("RUNNING-exec-off",),
            f"no RUNNING task of service {SERVICE} has ECS Exec on: has the service been "
            "deployed since operator_access.container_shell was set?",
        ),
    ],
)
def test_no_task_to_exec_into_is_one_line(
    account: Account,
    capsys: pytest.CaptureFixture[str],
    ecs_tasks: Any,
    tasks: tuple[str, ...],
    message: str,
) -> None:
    web_stack(account, FARGATE)
    for status in tasks:
        task(ecs_tasks, status=status.split("-")[0], exec_on="exec-off" not in status)
    code, out, err = account.run(capsys, "shell", "staging", config=SHELLS)
    assert (code, out) == (1, "")
    assert err.startswith(f"shell: {message}")
    assert err.count("\n") == 1
    assert account.programs.calls() == []


def test_ec2_runtime_opens_the_shell_document_on_an_online_instance_of_the_group(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    env = with_runtime(FARGATE, WebRuntime.EC2)
    web_stack(account, env)
    tag = {contract.INSTANCE_TAG: GROUP}
    stopped = account.instance(tags=tag)
    account.client("ec2").stop_instances(InstanceIds=[stopped])
    offline = account.instance(tags=tag)
    account.ssm.offline.add(offline)
    account.instance(tags={contract.INSTANCE_TAG: "another-group"})
    online = account.instance(tags=tag)

    code, _, err = account.run(capsys, "shell", "staging", config=config_with(env))

    assert code == 0
    assert account.programs.calls() == [
        [
            "ssm", "start-session", "--region", REGION, "--target", online,
            "--document-name", "three-tier-staging-shell",
        ]
    ]  # fmt: skip
    document = "three-tier-staging-shell"
    assert err == f"shell: instance {online} of Auto Scaling group {GROUP}, document {document}\n"


def test_ec2_runtime_without_an_online_instance_is_one_line(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    env = with_runtime(FARGATE, WebRuntime.EC2)
    web_stack(account, env)
    code, _, err = account.run(capsys, "shell", "staging", config=config_with(env))
    assert (code, err) == (1, f"shell: Auto Scaling group {GROUP} has no running instance\n")

    account.ssm.offline.add(account.instance(tags={contract.INSTANCE_TAG: GROUP}))
    code, _, err = account.run(capsys, "shell", "staging", config=config_with(env))
    assert code == 1
    assert err.startswith(f"shell: no running instance of {GROUP} is online in Systems Manager")


@pytest.mark.parametrize(
    ("env", "why"),
    [
        (with_runtime(FARGATE, WebRuntime.APP_RUNNER), NO_SHELL[WebRuntime.APP_RUNNER]),
        (with_runtime(FARGATE, WebRuntime.EXPRESS), "takes no enableExecuteCommand"),
        (
            CONFIG.environment("spa"),
            "it serves files from S3 through CloudFront: no container runs",
        ),
    ],
    ids=["app_runner", "express", "static_site"],
)
def test_runtimes_without_a_shell_refuse_in_one_line(
    account: Account, capsys: pytest.CaptureFixture[str], env: EnvironmentConfig, why: str
) -> None:
    code, out, err = account.run(capsys, "shell", env.name, config=config_with(env))
    assert (code, out) == (2, "")
    assert err.startswith(f"shell: no shell in {env.name}: web.runtime is {env.web.runtime}, and ")
    assert why in err
    assert err.count("\n") == 1
    assert account.programs.calls() == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("shell",), "usage: make shell ENV=<environment>"),
        (("shell", "staging", "web"), "usage: make shell ENV=<environment>"),
        (("shell", "nowhere"), "not a configured environment"),
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


def test_missing_web_stack_or_program_is_one_line(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = account.run(capsys, "shell", "staging", config=SHELLS)
    assert (code, err) == (1, f"shell: stack three-tier-staging-web does not exist in {REGION}\n")

    account.programs.install(plugin=False)
    code, _, err = account.run(capsys, "shell", "staging", config=SHELLS)
    assert code == 1
    assert err.startswith("shell: the Session Manager plugin (session-manager-plugin) is not on")


@pytest.mark.parametrize(
    ("env", "why"),
    [
        (
            STAGING,
            "operator_access.container_shell is False: ECS Exec needs a writable root "
            "filesystem, so the web container keeps its read-only one; set it to True and deploy",
        ),
        (
            with_runtime(
                replace(STAGING, operator_access=replace(STAGING.operator_access, enabled=False)),
                WebRuntime.EC2,
            ),
            "operator_access.enabled is False (no shell document, no operators policy)",
        ),
    ],
    ids=["fargate-without-container-shell", "ec2-without-operator-access"],
)
def test_config_without_a_shell_refuses_in_one_line_before_any_call(
    account: Account, capsys: pytest.CaptureFixture[str], env: EnvironmentConfig, why: str
) -> None:
    code, out, err = account.run(capsys, "shell", "staging", config=config_with(env))
    assert (code, out) == (2, "")
    assert err == f"shell: no shell in staging: {why}\n"
    assert account.programs.calls() == []
