"""A secret handed to a container as an environment variable, resolved by the runtime."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


@dataclass(frozen=True)
class ContainerSecret:
    """Environment variable ``name`` <- ``secret`` (one JSON ``field`` of it, or all of it).

    ECS and App Runner fetch the value when the container starts, so it is never in a template
    or a plain environment variable.
    """

    name: str
    secret: secretsmanager.ISecret
    field: str | None = None
    key: kms.IKey | None = None
    """The customer-managed key of a secret made in another stack: ``secret`` is then a view
    without it (``view_without_key``) and ``grant_read`` grants the key on the reader's own
    policy. A secret's own grant would add the reader to the key's policy, in the key's stack,
    which then depends on the reader's: a cycle."""

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Read the secret, and decrypt it through Secrets Manager only."""
        self.secret.grant_read(grantee)
        self.grant_key(grantee)

    def grant_key(self, grantee: iam.IGrantable) -> None:
        """``kms:Decrypt`` on ``key`` for requests Secrets Manager makes for ``grantee`` (what a
        runtime whose secret grant is made by CDK, like an ECS task's, needs besides)."""
        if self.key is None:
            return
        region = Stack.of(self.key).region
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["kms:Decrypt"],
            resource_arns=[self.key.key_arn],
            conditions={
                "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
            },
        ).assert_success()


def view_without_key(
    scope: Construct, id_: str, secret: secretsmanager.ISecret
) -> secretsmanager.ISecret:
    """``secret`` by its full ARN, without its key (see ``ContainerSecret.key``)."""
    return secretsmanager.Secret.from_secret_attributes(
        scope, id_, secret_complete_arn=secret.secret_arn
    )
