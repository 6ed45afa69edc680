"""A secret handed to a container as an environment variable, resolved by the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_secretsmanager as secretsmanager


@dataclass(frozen=True)
class ContainerSecret:
    """Environment variable ``name`` <- ``secret`` (one JSON ``field`` of it, or all of it).

    ECS and App Runner fetch the value when the container starts, so it is never in a template
    or a plain environment variable.
    """

    name: str
    secret: secretsmanager.ISecret
    field: str | None = None
