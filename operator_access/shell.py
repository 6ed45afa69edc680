"""``python -m operator_access shell ENV`` (``make shell``): an interactive ``/bin/sh`` in a
running web container of the environment.

Fargate: ECS Exec into the ``web`` container of a RUNNING task of the web service (``aws ecs
execute-command``), where the service runs with it (``operator_access.container_shell``). The
EC2 runtime: a Session Manager session on a running, SSM-online instance of the web Auto
Scaling group, with the environment's shell document (``<app>-<env>-shell``). App Runner, ECS
Express Mode and the static site have none: one line says why (exit 2).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from cdk_constructs.options import WebRuntime
from operator_access import contract
from operator_access.common import AccessError, Clients, UsageError, session_programs, stack_outputs
from operator_access.instance import ssm_online
from stacks.config import AppConfig, EnvironmentConfig

SHELL_RUNTIMES = frozenset({WebRuntime.FARGATE, WebRuntime.EC2})
NO_SHELL = {
    WebRuntime.APP_RUNNER: (
        "App Runner offers no way into its containers (no ECS Exec, no Session Manager): read "
        "the service's logs in CloudWatch instead"
    ),
    WebRuntime.EXPRESS: (
        "an ECS Express Mode service takes no enableExecuteCommand, so its tasks run without "
        "ECS Exec: read the service's logs in CloudWatch instead"
    ),
    WebRuntime.STATIC_SITE: "it serves files from S3 through CloudFront: no container runs",
}
CONTAINER_SHELL_SETTING = "operator_access.container_shell"
"""The config field that turns ECS Exec on for the Fargate service."""
EXEC_AGENT = "ExecuteCommandAgent"
Say = Callable[[str], None]


def parse(argv: Sequence[str]) -> str:
    match list(argv):
        case [env_name]:
            return env_name
    raise UsageError("usage: make shell ENV=<environment>")


def session_argv(env: EnvironmentConfig, clients: Clients, app: AppConfig, say: Say) -> list[str]:
    """The AWS CLI command that opens the shell, once a running target is found (``env`` has
    passed ``check_config``)."""
    aws = session_programs()
    outputs = stack_outputs(
        clients, app, env, contract.WEB_TIER, (contract.SERVICE_OUTPUT,), "is it deployed?"
    )
    if env.web.runtime is WebRuntime.EC2:
        group = outputs[contract.SERVICE_OUTPUT]
        instance = running_instance(clients.ec2, clients.ssm, group)
        document = contract.shell_document(app, env)
        say(f"instance {instance} of Auto Scaling group {group}, document {document}")
        return [
            aws, "ssm", "start-session", "--region", env.region, "--target", instance,
            "--document-name", document,
        ]  # fmt: skip
    cluster, service = _cluster_and_service(outputs[contract.SERVICE_OUTPUT])
    task = running_task(clients.ecs, cluster, service)
    task_id = task.rsplit("/", 1)[-1]
    say(f"task {task_id} of service {service} ({cluster}), container {contract.WEB_CONTAINER}")
    return [
        aws, "ecs", "execute-command", "--region", env.region, "--cluster", cluster,
        "--task", task, "--container", contract.WEB_CONTAINER, "--interactive",
        "--command", "/bin/sh",
    ]  # fmt: skip


def check_config(env: EnvironmentConfig) -> None:
    """A UsageError when the environment's config gives it no shell."""
    runtime, access = env.web.runtime, env.operator_access
    refusal: str | None = None
    if runtime in NO_SHELL:
        refusal = f"web.runtime is {runtime}, and {NO_SHELL[runtime]}"
    elif runtime not in SHELL_RUNTIMES:
        refusal = f"make shell does not know web.runtime {runtime}"
    elif not access.enabled:
        refusal = "operator_access.enabled is False (no shell document, no operators policy)"
    elif runtime is WebRuntime.FARGATE and not access.container_shell:
        refusal = (
            f"{CONTAINER_SHELL_SETTING} is False: ECS Exec needs a writable root filesystem, so "
            "the web container keeps its read-only one; set it to True and deploy"
        )
    if refusal is not None:
        raise UsageError(f"no shell in {env.name}: {refusal}")


def _cluster_and_service(service_arn: str) -> tuple[str, str]:
    """``arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`` -> (CLUSTER, SERVICE)."""
    parts = service_arn.split(":", 5)[-1].split("/")
    if len(parts) != 3 or parts[0] != "service":
        raise AccessError(f"{contract.SERVICE_OUTPUT} {service_arn} is not an ECS service ARN")
    return parts[1], parts[2]


def running_task(ecs: Any, cluster: str, service: str) -> str:
    """The ARN of a RUNNING task of the service whose ECS Exec agent runs (the newest)."""
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns[:100])["tasks"] if arns else []
    # A service's tasks are in group service:<name> (list_tasks filters by it already).
    running = [
        task
        for task in tasks
        if task.get("lastStatus") == "RUNNING"
        and task.get("group", f"service:{service}") == f"service:{service}"
    ]
    if not running:
        raise AccessError(f"service {service} in cluster {cluster} has no RUNNING task")
    ready = [task for task in running if _exec_ready(task)]
    if not ready:
        raise AccessError(
            f"no RUNNING task of service {service} has ECS Exec on: has the service been "
            f"deployed since {CONTAINER_SHELL_SETTING} was set? (new tasks get it)"
        )
    newest = max(ready, key=lambda task: str(task.get("startedAt", "")))
    return str(newest["taskArn"])


def _exec_ready(task: dict[str, Any]) -> bool:
    if task.get("enableExecuteCommand") is False:
        return False
    container = next(
        (c for c in task.get("containers", []) if c.get("name") == contract.WEB_CONTAINER), None
    )
    if container is None:
        return False
    agents = [a for a in container.get("managedAgents", []) if a.get("name") == EXEC_AGENT]
    return all(agent.get("lastStatus") == "RUNNING" for agent in agents)


def running_instance(ec2: Any, ssm: Any, group: str) -> str:
    """A running instance of the group (by its ``platform:web`` tag, which the operators policy
    admits) that is online in Systems Manager: the newest."""
    filters = [
        {"Name": f"tag:{contract.INSTANCE_TAG}", "Values": [group]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    reservations = ec2.describe_instances(Filters=filters)["Reservations"]
    instances = sorted(
        (i for r in reservations for i in r.get("Instances", [])),
        key=lambda instance: str(instance.get("LaunchTime", "")),
        reverse=True,
    )
    if not instances:
        raise AccessError(f"Auto Scaling group {group} has no running instance")
    online = ssm_online(ssm, [i["InstanceId"] for i in instances])
    found = next((i["InstanceId"] for i in instances if i["InstanceId"] in online), None)
    if found is None:
        raise AccessError(
            f"no running instance of {group} is online in Systems Manager (an instance "
            "registers its agent a minute or so after boot)"
        )
    return str(found)


def open_session(argv: list[str]) -> int:
    """Runs the CLI on this terminal; its exit code. The plugin puts the terminal in raw mode,
    so Ctrl-C inside the shell goes to the remote shell, not here."""
    try:
        return subprocess.run(argv, check=False).returncode  # noqa: S603 (the AWS CLI)
    except KeyboardInterrupt:
        return 130


def say_line(line: str) -> None:
    print(f"shell: {line}", file=sys.stderr, flush=True)
