"""The users' roles of the public services API: who may call which routes (the authorizer reads
it; ``make roles`` writes it)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

ROLE_TABLE_KEY = "subject"
"""Partition key: the token's ``sub``."""
ROLES_ATTRIBUTE = "roles"
"""A string set of role names (``api.route_roles`` names them)."""
READ_ACTIONS = ("dynamodb:GetItem",)
"""All a reader needs: one item by its key, never a scan."""


class RoleTable(Construct):
    """On-demand table keyed by ``subject``, encrypted with the environment's key, with
    point-in-time recovery. A retaining ``removal_policy`` keeps it with the stack gone and
    deletion-protects it meanwhile (as the session table)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        table_name: str,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        self.key = key
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(
                name=ROLE_TABLE_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing=dynamodb.Billing.on_demand(),
            table_class=dynamodb.TableClass.STANDARD,
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(key),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=removal_policy is not RemovalPolicy.DESTROY,
            removal_policy=removal_policy,
        )

    def grant_read_roles(self, grantee: iam.IGrantable) -> None:
        """``dynamodb:GetItem`` on this table only, and ``kms:Decrypt`` of its key only for
        requests DynamoDB makes (``kms:ViaService``, https://docs.aws.amazon.com/kms/latest/
        developerguide/conditions-kms.html#conditions-kms-via-service). On the grantee's policy:
        the key lives in the network stack, whose policy must not name this stack's roles."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=list(READ_ACTIONS), resource_arns=[self.table.table_arn]
        ).assert_success()
        region = Stack.of(self).region
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["kms:Decrypt"],
            resource_arns=[self.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
        ).assert_success()
