"""The extra cdk-nag pack of an environment's compliance profile (``security.compliance``),
checked on that environment's stage only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jsii
from aws_cdk import IPolicyValidationPlugin, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import NagPack, NIST80053R5Checks
from constructs import Construct

from cdk_constructs.nag import NIST, acknowledge
from cdk_constructs.options import ComplianceProfile

COMPLIANCE_PACKS: Mapping[ComplianceProfile, Callable[[], NagPack] | None] = {
    ComplianceProfile.NONE: None,
    ComplianceProfile.NIST_800_53_R5: NIST80053R5Checks,
}


@jsii.implements(IPolicyValidationPlugin)
class ScopedPack:
    """A cdk-nag pack that checks one scope: a pack added to a stage would walk the whole app
    (every environment) from it."""

    def __init__(self, pack: NagPack, scope: Construct) -> None:
        self._pack = pack
        self._scope = scope

    @property
    def name(self) -> str:
        return str(self._pack.name)

    @property
    def version(self) -> str | None:
        return None

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: Any) -> Any:
        return self._pack.validate_scope(self._scope)


def add_compliance_pack(scope: Construct, profile: ComplianceProfile) -> None:
    """Check ``scope`` against the pack of ``profile`` at synth (an unacknowledged finding fails
    the synth); call it once ``scope`` holds everything."""
    pack = COMPLIANCE_PACKS[profile]
    if pack is None:
        return
    acknowledge_inline_policies(scope)
    Validations.of(scope).add_plugins(ScopedPack(pack(), scope))


def acknowledge_inline_policies(scope: Construct) -> None:
    """NIST's IAMNoInlinePolicy on each role policy of ``scope``, at the policy itself: CDK
    writes every grant as a policy bound to its one role."""
    for child in scope.node.find_all():
        inline = isinstance(child, iam.CfnPolicy) or (
            isinstance(child, iam.CfnRole) and child.policies is not None
        )
        if inline and child.node.scope is not None:
            acknowledge(
                child.node.scope,
                f"{NIST}IAMNoInlinePolicy",
                "CDK writes each role's least-privilege grants as a policy bound to that one "
                "role; a customer managed policy would hold the same statements and could be "
                "attached elsewhere, which is no stronger control.",
            )
