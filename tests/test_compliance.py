"""The compliance profile: where ``security.compliance`` is on, synth also runs cdk-nag's NIST
800-53 rev. 5 pack on that environment (and its account's deploy roles) alone, and fails on any
finding that is neither fixed nor acknowledged with a reason."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from cdk_constructs.options import ComplianceProfile
from stacks.config import APP_CONFIG
from tests.synth import Synthesized, Tier, synth_variant_tiers

NIST_PACK = "NIST.800.53.R5"


def nist_reports(synthesized: Synthesized) -> list[dict[str, Any]]:
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    return [p for p in report["pluginReports"] if p["pluginName"] == NIST_PACK]


def test_prod_ships_with_the_nist_profile_and_the_others_without() -> None:
    profiles = {env.name: env.security.compliance for env in APP_CONFIG.environments}
    assert profiles == {
        "dev": ComplianceProfile.NONE,
        "staging": ComplianceProfile.NONE,
        "prod": ComplianceProfile.NIST_800_53_R5,
        "spa": ComplianceProfile.NONE,
        "classic": ComplianceProfile.NONE,
        "ec2": ComplianceProfile.NONE,
        "express": ComplianceProfile.NONE,
    }


def test_the_pack_checks_prod_and_its_deploy_roles_only_and_finds_nothing_unacknowledged(
    synthesized: Synthesized,
) -> None:
    reports = nist_reports(synthesized)
    assert len(reports) == 2  # the prod stage, and the GitHub OIDC stage of prod's account
    prod_account = APP_CONFIG.environment("prod").account
    checked: set[str] = set()
    for report in reports:
        assert report["conclusion"] == "success"
        assert report["violations"] == []
        for violation in report["suppressedViolations"]:
            for construct in violation["violatingConstructs"]:
                checked.add(construct["constructPath"].split("/")[0])
    assert checked == {"prod", f"github-{prod_account}"}


def test_every_nist_acknowledgement_has_a_reason(synthesized: Synthesized) -> None:
    suppressed = [
        violation
        for report in nist_reports(synthesized)
        for violation in report["suppressedViolations"]
    ]
    assert len(suppressed) >= 15  # one per rule the platform cannot or need not meet
    rules = {violation["ruleName"] for violation in suppressed}
    # What the platform fixes instead of acknowledging never appears.
    assert not rules & {
        f"{NIST_PACK}-CloudWatchLogGroupEncrypted",
        f"{NIST_PACK}-SecretsManagerUsingKMSKey",
        f"{NIST_PACK}-S3BucketVersioningEnabled",
        f"{NIST_PACK}-RDSEnhancedMonitoringEnabled",
        f"{NIST_PACK}-ALBWAFEnabled",
    }
    for violation in suppressed:
        assert len(violation["reason"]) > 40, violation["ruleName"]


def test_the_pack_fails_the_synth_of_an_environment_that_does_not_meet_it() -> None:
    """Dev's NAT instance (a public IP, an all-protocols ingress from the VPC) is what the pack
    refuses: turning the profile on there stops synth with the findings."""
    dev = APP_CONFIG.environment("dev")
    strict = replace(
        dev, security=replace(dev.security, compliance=ComplianceProfile.NIST_800_53_R5)
    )
    with pytest.raises(RuntimeError, match=f"{NIST_PACK}-EC2InstanceNoPublicIp"):
        synth_variant_tiers(strict, Tier.NETWORK, nag=True)
