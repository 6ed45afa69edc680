"""What a web runtime runs: a tag of the environment's ECR repository, or a public image (the
placeholder until a tag is configured, so the first deploy needs no image). Every runtime
takes one of these, so the placeholder logic lives here once, and so does what each image needs
to run locked down on ECS (its non-root user, its one writable path).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs

PLACEHOLDER_IMAGE = "public.ecr.aws/nginx/nginx-unprivileged:1.27-alpine"
"""nginx built to run unprivileged (nginxinc/docker-nginx-unprivileged, multi-arch): uid 101, pid
and temp files under /tmp. With ``placeholder_command`` it answers 200 on every path."""
PLACEHOLDER_USER = "101:101"
"""The nginx user and group of that image."""
APP_UID = 10001
"""uid and gid of the reference app's image: web_app/Dockerfile creates and runs as this user
(tests/test_fargate_hardening.py checks the two agree)."""
APP_USER = f"{APP_UID}:{APP_UID}"
SCRATCH_PATH = "/tmp"  # noqa: S108 (a path inside the container, not a temp file here)
"""The only writable path of a web container; everything else is a read-only root filesystem."""
SCRATCH_VOLUME = "scratch"
SCRATCH_INIT = "scratch-permissions"


@dataclass(frozen=True)
class RepositoryImage:
    """A tag of a private ECR repository: the runtime gets pull access to that repository.

    The image is expected to be built like web_app/Dockerfile: it runs as ``APP_USER`` and
    declares ``VOLUME ["/tmp"]`` over a world-writable /tmp, which is what makes the scratch
    volume writable on Fargate (``add_scratch_volume``)."""

    repository: ecr.IRepository
    tag: str

    @property
    def user(self) -> str:
        return APP_USER


@dataclass(frozen=True)
class PublicImage:
    """A public image, pulled without credentials, with an optional start command."""

    name: str
    command: tuple[str, ...] | None = None
    user: str = PLACEHOLDER_USER
    """The numeric non-root ``uid:gid`` it runs as on ECS (the placeholder's by default)."""

    @property
    def start_command(self) -> str | None:
        """The command as one shell-quoted line (what App Runner takes)."""
        return shlex.join(self.command) if self.command else None


WebImage = RepositoryImage | PublicImage


def placeholder_command(port: int) -> tuple[str, ...]:
    """nginx answering 200 "ok" on every path at ``port``: the first deploy needs no image.

    The root filesystem is read-only, so the config, the pid file and the temp directories all
    go under /tmp, and the error log goes to stderr from the start (``-e``)."""
    config = (
        "pid /tmp/nginx.pid; error_log stderr; events {} "
        "http { access_log /dev/stdout; client_body_temp_path /tmp/client_temp; "
        "proxy_temp_path /tmp/proxy_temp; fastcgi_temp_path /tmp/fastcgi_temp; "
        "uwsgi_temp_path /tmp/uwsgi_temp; scgi_temp_path /tmp/scgi_temp; "
        f"server {{ listen {port}; location / {{ return 200 'ok'; }} }} }}"
    )
    return (
        "/bin/sh",
        "-c",
        f"echo {shlex.quote(config)} > /tmp/nginx.conf && "
        "exec nginx -c /tmp/nginx.conf -e stderr -g 'daemon off;'",
    )


def placeholder_image(port: int) -> PublicImage:
    """The public placeholder, listening on ``port``."""
    return PublicImage(PLACEHOLDER_IMAGE, placeholder_command(port))


def locked_down(scope: ecs.TaskDefinition, id_: str) -> ecs.LinuxParameters:
    """Every Linux capability dropped, none added; an init process reaps zombies and forwards
    signals. (noNewPrivileges would be ``dockerSecurityOptions``, which "isn't valid for
    containers in tasks using the Fargate launch type": ECS ContainerDefinition API.)"""
    parameters = ecs.LinuxParameters(scope, id_, init_process_enabled=True)
    parameters.drop_capabilities(ecs.Capability.ALL)
    return parameters


def add_scratch_volume(
    task_definition: ecs.TaskDefinition,
    container: ecs.ContainerDefinition,
    image: WebImage,
    logging: ecs.LogDriver,
) -> None:
    """A task volume (a bind mount on the task's ephemeral storage) at ``SCRATCH_PATH``, the one
    place the container writes. Fargate has no tmpfs ("If you're using tasks that use the
    Fargate launch type, the tmpfs parameter isn't supported": ECS LinuxParameters API).

    A bind mount is created root-owned, mode 0755, unless the image declares a ``VOLUME`` at
    that exact path, whose directory (owner and mode) is then copied to it
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/bind-mounts.html;
    aws/containers-roadmap#938). The reference image declares ``VOLUME ["/tmp"]`` over its 1777
    /tmp. A public image does not, so before it starts a short-lived, non-essential container of
    the same image, as root but with no capability and a read-only root, makes the mount 1777
    like any /tmp (the owner may chmod without a capability); AWS's answer on that issue."""
    task_definition.add_volume(name=SCRATCH_VOLUME)
    mount = ecs.MountPoint(
        container_path=SCRATCH_PATH, source_volume=SCRATCH_VOLUME, read_only=False
    )
    container.add_mount_points(mount)
    if isinstance(image, RepositoryImage):
        return
    init = task_definition.add_container(
        SCRATCH_INIT,
        image=ecs.ContainerImage.from_registry(image.name),
        essential=False,
        entry_point=["chmod", "1777", SCRATCH_PATH],
        user="0",
        readonly_root_filesystem=True,
        linux_parameters=locked_down(task_definition, "ScratchInitLinux"),
        logging=logging,
    )
    init.add_mount_points(mount)
    container.add_container_dependencies(
        ecs.ContainerDependency(container=init, condition=ecs.ContainerDependencyCondition.SUCCESS)
    )
