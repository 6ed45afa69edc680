"""The web tier's server-side session store."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

SESSION_KEY = "session_id"
SESSION_EXPIRY_ATTRIBUTE = "expires_at"
"""Epoch seconds; DynamoDB's TTL deletes the item some time after it passes."""


class SessionTable(Construct):
    """On-demand DynamoDB table keyed by ``session_id``; expired sessions age out by TTL.

    Point-in-time recovery is always on. A retaining ``removal_policy`` keeps the table when the
    stack goes, and deletion protection guards it in the meantime: both say the data is kept.
    """

    def __init__(
        self, scope: Construct, id_: str, *, table_name: str, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, id_)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=SESSION_KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=SESSION_EXPIRY_ATTRIBUTE,
            billing=dynamodb.Billing.on_demand(),
            table_class=dynamodb.TableClass.STANDARD,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=removal_policy is not RemovalPolicy.DESTROY,
            removal_policy=removal_policy,
        )
