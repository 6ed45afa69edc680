"""What a web runtime runs: a tag of the environment's ECR repository, or a public image (the
placeholder until a tag is configured, so the first deploy needs no image). Every runtime
takes one of these, so the placeholder logic lives here once."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from aws_cdk import aws_ecr as ecr

PLACEHOLDER_IMAGE = "public.ecr.aws/nginx/nginx:1.27-alpine"
"""Multi-arch public image; with ``placeholder_command`` it answers 200 on every path."""


@dataclass(frozen=True)
class RepositoryImage:
    """A tag of a private ECR repository: the runtime gets pull access to that repository."""

    repository: ecr.IRepository
    tag: str


@dataclass(frozen=True)
class PublicImage:
    """A public image, pulled without credentials, with an optional start command."""

    name: str
    command: tuple[str, ...] | None = None

    @property
    def start_command(self) -> str | None:
        """The command as one shell-quoted line (what App Runner takes)."""
        return shlex.join(self.command) if self.command else None


WebImage = RepositoryImage | PublicImage


def placeholder_command(port: int) -> tuple[str, ...]:
    """nginx answering 200 "ok" on every path at ``port``: the first deploy needs no image."""
    config = f"server {{ listen {port}; location / {{ return 200 'ok'; }} }}"
    return (
        "/bin/sh",
        "-c",
        f"echo {shlex.quote(config)} > /etc/nginx/conf.d/default.conf && "
        "exec nginx -g 'daemon off;'",
    )


def placeholder_image(port: int) -> PublicImage:
    """The public placeholder, listening on ``port``."""
    return PublicImage(PLACEHOLDER_IMAGE, placeholder_command(port))
