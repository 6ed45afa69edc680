"""What an instance of the EC2 web runtime does when it boots (its user data, a bash script):
Docker from AL2023's own repositories, the image pulled (after an ECR login for a private one),
the secrets read from Secrets Manager with the instance role, the container run as on Fargate,
and the launch lifecycle hook completed once it answers its health path.

AWS rules relied on:

- Docker is in AL2023's core repositories (no download from GitHub), and each AL2023 AMI is
  locked to a repository version, so an AMI installs the same Docker every boot:
  https://docs.aws.amazon.com/linux/al2023/ug/ecs.html
- IMDSv2 only, hop limit 2 "to allow support for containerized workloads" (the container sits one
  network hop behind the instance and reaches IMDS for the instance role's credentials, as an SDK
  on Fargate reaches the task role's): https://docs.aws.amazon.com/linux/al2023/ug/imdsv2.html
- An instance refresh does not wait for cfn-signal; a launch lifecycle hook, completed with
  CompleteLifecycleAction, holds a new instance out of service (and out of the target group)
  until it is ready:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatepolicy.html#cfn-attributes-updatepolicy-instancerefresh-readiness
  (the link CDK 2.275's warning ``signalsNotUsedByInstanceRefresh`` gives).

Secrets never reach the template or the user data: only their ARNs do. The script reads each at
boot into a variable of its own shell and hands it to ``docker run -e NAME`` (the name alone:
Docker copies the value from its caller's environment), never into a file or the command line.
Docker keeps the container's configuration, values included, root-readable on the instance, to
restart it (as the ECS agent does on EC2 container instances).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Stack, Token

from cdk_constructs.container_secret import ContainerSecret
from cdk_constructs.web_runtime.image import (
    SCRATCH_PATH,
    PublicImage,
    RepositoryImage,
    WebImage,
)

CONTAINER_NAME = "web"
"""Docker's name for the container (``docker exec -it web /bin/sh``), as the ECS runtimes name
theirs (``fargate_task.CONTAINER_NAME``)."""
READY_HOOK = "container-ready"
"""The launch lifecycle hook the script completes."""
SCRATCH_DIR = "/var/lib/web/scratch"
"""The host directory behind the container's only writable path (``SCRATCH_PATH``): on disk,
like Fargate's task volume, and world-writable with the sticky bit, like any /tmp."""
HEALTH_ATTEMPTS, HEALTH_POLL_SECONDS = 60, 5
"""The script waits up to 5 minutes for the container to answer 200 on its health path."""
RETRIES, RETRY_SECONDS = 10, 6
"""A package install, a login or a pull is tried 10 times, 6 s apart (the network may lag the
boot)."""
IMDS = "http://169.254.169.254/latest"
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VALUE_PICKER = (
    "import json,sys; s=json.load(sys.stdin)['SecretString']; k=sys.argv[1]; "
    "v=json.loads(s)[k] if k else s; sys.stdout.write(v if isinstance(v, str) else json.dumps(v))"
)
"""The whole secret string, or one JSON field of it (what ECS's ``<arn>:<field>::`` picks)."""


@dataclass(frozen=True, kw_only=True)
class BootPlan:
    """What the script needs, tokens allowed where a value is only known at deploy time (they
    must resolve to names, ARNs or a region: nothing with a quote)."""

    image: WebImage
    image_uri: str
    """The image as ``docker pull`` takes it (a repository URI and tag for a private one)."""
    registry: str | None
    """The ECR registry to log in to (a private image), else None."""
    port: int
    health_path: str
    memory_mib: int
    environment: Mapping[str, str]
    secrets: Sequence[ContainerSecret]
    log_group_name: str
    auto_scaling_group_name: str
    region: str


def _quoted(value: str) -> str:
    """A shell word: single-quoted for a token (its resolved value holds no quote), else
    shlex-quoted."""
    return f"'{value}'" if Token.is_unresolved(value) else shlex.quote(value)


def _check_names(plan: BootPlan) -> None:
    names = [*plan.environment, *(secret.name for secret in plan.secrets)]
    bad = [name for name in names if not VARIABLE.fullmatch(name)]
    if bad:
        raise ValueError(f"container variables must be shell names: {bad}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"variables defined twice (plain and/or secret): {duplicates}")


def boot_commands(plan: BootPlan) -> list[str]:
    """The script's lines, after the ``#!/bin/bash`` CDK's Linux user data starts with."""
    _check_names(plan)
    region, group = _quoted(plan.region), _quoted(plan.auto_scaling_group_name)
    lines = [
        "set -uo pipefail",
        # Whatever happens below, the hook is completed with CONTINUE: an instance whose
        # container does not answer joins the target group unhealthy, where the ALB's health
        # check and the release alarms judge it (and fail the instance refresh).
        "ready() {",
        f"  aws autoscaling complete-lifecycle-action --region {region} "
        f"--auto-scaling-group-name {group} --lifecycle-hook-name {READY_HOOK} "
        '--instance-id "${INSTANCE_ID:-unknown}" --lifecycle-action-result CONTINUE || true',
        "}",
        "trap ready EXIT",
        "retry() {",
        f"  local attempt; for attempt in $(seq {RETRIES}); do "
        f'"$@" && return 0; sleep {RETRY_SECONDS}; done; return 1',
        "}",
        f'IMDS_TOKEN=$(curl -sS -X PUT "{IMDS}/api/token" '
        '-H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
        f'INSTANCE_ID=$(curl -sS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" '
        f'"{IMDS}/meta-data/instance-id")',
        "set -e",
        "retry dnf install -y docker",
        "systemctl enable --now docker",
    ]
    if plan.registry is not None:
        lines += [
            "ecr_login() {",
            f"  aws ecr get-login-password --region {region} | "
            f"docker login --username AWS --password-stdin {_quoted(plan.registry)}",
            "}",
            "retry ecr_login",
        ]
    lines.append(f"retry docker pull {_quoted(plan.image_uri)}")
    if plan.secrets:
        lines += [
            "secret() {",
            f'  aws secretsmanager get-secret-value --region {region} --secret-id "$1" '
            f'--output json | python3 -c {shlex.quote(VALUE_PICKER)} "${{2:-}}"',
            "}",
        ]
        for secret in plan.secrets:
            field = f" {shlex.quote(secret.field)}" if secret.field else ""
            arn = _quoted(secret.secret.secret_arn)
            # Two statements: ``export X=$(...)`` would hide a failed read from ``set -e``.
            lines.append(f"{secret.name}=$(retry secret {arn}{field}); export {secret.name}")
    lines += [
        f"install -d -m 1777 {SCRATCH_DIR}",
        "docker rm -f web >/dev/null 2>&1 || true",
        " ".join(_run_arguments(plan)),
        f"for attempt in $(seq {HEALTH_ATTEMPTS}); do",
        f"  [ \"$(curl -s -o /dev/null -w '%{{http_code}}' "
        f'{shlex.quote(f"http://127.0.0.1:{plan.port}{plan.health_path}")})" = 200 ] && break',
        f"  sleep {HEALTH_POLL_SECONDS}",
        "done",
    ]
    return lines


def _run_arguments(plan: BootPlan) -> list[str]:
    """``docker run``, locked down like the Fargate task (image.py): the image's numeric
    non-root user, a read-only root but the scratch directory, no capability, and besides, no
    privilege gain; a hard memory limit; restarted whenever it stops (and at boot); logs to the
    runtime's log group, one stream per instance."""
    image = plan.image
    arguments = [
        "docker run --detach",
        f"--name {CONTAINER_NAME}",
        "--restart always",
        f"--publish {plan.port}:{plan.port}",
        f"--user {shlex.quote(image.user)}",
        "--read-only",
        f"--mount type=bind,source={SCRATCH_DIR},target={SCRATCH_PATH}",
        "--cap-drop ALL",
        "--security-opt no-new-privileges",
        f"--memory {plan.memory_mib}m",
        "--log-driver awslogs",
        f"--log-opt awslogs-region={_quoted(plan.region)}",
        f"--log-opt awslogs-group={_quoted(plan.log_group_name)}",
        f'--log-opt awslogs-stream="{CONTAINER_NAME}/$INSTANCE_ID"',
    ]
    arguments += [f"-e {name}={_quoted(value)}" for name, value in sorted(plan.environment.items())]
    arguments += [f"-e {secret.name}" for secret in plan.secrets]
    arguments.append(_quoted(plan.image_uri))
    if isinstance(image, PublicImage) and image.command:
        arguments.append(shlex.join(image.command))
    return arguments


def image_reference(image: WebImage) -> tuple[str, str | None]:
    """(what ``docker pull`` takes, the registry to log in to or None)."""
    if isinstance(image, RepositoryImage):
        stack = Stack.of(image.repository)
        registry = f"{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}"
        return f"{registry}/{image.repository.repository_name}:{image.tag}", registry
    return image.name, None
