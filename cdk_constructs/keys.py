"""Customer-managed KMS keys: one rule for rotation and the deletion waiting period."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

RETAINED_PENDING_WINDOW = Duration.days(30)
"""KMS's longest wait before deleting a key: the most time to cancel a mistaken deletion of a
key that encrypts retained data (a key deleted is data lost)."""
DISPOSABLE_PENDING_WINDOW = Duration.days(7)
"""KMS's shortest wait: a torn-down environment stops paying for its keys within a week."""


def rotating_key(
    scope: Construct, id_: str, *, description: str, removal_policy: RemovalPolicy
) -> kms.Key:
    """A symmetric key with yearly automatic rotation, removed (after the waiting period) or
    retained with the data it encrypts."""
    retained = removal_policy is not RemovalPolicy.DESTROY
    return kms.Key(
        scope,
        id_,
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=RETAINED_PENDING_WINDOW if retained else DISPOSABLE_PENDING_WINDOW,
    )
