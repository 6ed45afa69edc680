"""Snapshots of whole templates: they catch an unintended change anywhere in a stack, which the
relation tests (which check what matters, per environment) would not look at.

One snapshot per distinct shape, not one per environment: prod for every stack (it has every
feature: proxy, reader, rotation, retention, rollback guards, WAF, domain), plus another
environment only where its stack holds resources prod's does not. Where environments differ
only in values (names, sizes, retention days) or hold a subset of prod's resources, a second
copy would fail on the same changes as the first; the relation tests check each environment.

Update after an intended change with: .venv/bin/pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.synth import Synthesized, Tier

_ASSET_HASH = re.compile(r"[0-9a-f]{64}")

SNAPSHOTS: dict[Tier, tuple[str, ...]] = {
    # NAT instance, one NAT gateway, a NAT gateway per AZ: three different sets of resources.
    Tier.NETWORK: ("dev", "staging", "prod"),
    # dev: no proxy, auto-pause, destroyed with the stack; prod: proxy, reader, rotation,
    # retention and rollback guards. staging's proxy without retention adds no new resource.
    # spa: a Multi-AZ PostgreSQL instance behind a proxy; classic: a retained MySQL instance.
    Tier.DATA: ("dev", "prod", "spa", "classic"),
    # dev and staging hold prod's resources minus the rollback guard; spa: the public services
    # API (authorizer, role table, user pool, NLB, VPC link, microservices).
    Tier.API: ("prod", "spa"),
    # dev: Fargate Spot (x86), no domain, no WAF; prod: ARM, domain, certificate, WAF, guards;
    # spa: the static site (bucket, distribution, deployment, browser sign-in client); ec2: the
    # Auto Scaling group, its launch template and instance refresh; express: the Express
    # service and its CloudFront front (VPC origin, ingress steps, edge WAF, domain).
    Tier.WEB: ("dev", "prod", "spa", "ec2", "express"),
    # The same alarms and dashboard everywhere (dev lacks the proxy's alarm); spa's dashboard
    # has the services row and the site's CloudFront widgets; classic: an instance's storage
    # alarm instead of ACUs, and backup alarms on RDS jobs; ec2: the operators policy with
    # instance shells.
    Tier.OPS: ("prod", "spa", "classic", "ec2"),
}
OTHER_SNAPSHOTS = (("spa", "WebEdge"),)
"""(environment, construct id) of the stacks besides the tiers: spa's us-east-1 edge stack."""


def mask_asset_hashes(template: dict[str, Any]) -> Any:
    """Asset hashes change with CDK's bundled code, not with this app: mask them."""
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template)))


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize(
    ("stack", "env_name"),
    [
        pytest.param(tier, name, id=f"{tier}-{name}")
        for tier, names in SNAPSHOTS.items()
        for name in names
    ],
)
def test_stack_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion, stack: Tier, env_name: str
) -> None:
    """The environments of each stack: see ``SNAPSHOTS`` for why these."""
    assert mask_asset_hashes(synthesized.envs[env_name].template(stack)) == snapshot_json


@pytest.mark.parametrize(("env_name", "construct_id"), OTHER_SNAPSHOTS)
def test_other_stack_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion, env_name: str, construct_id: str
) -> None:
    """The stacks a stage holds besides its tiers (``OTHER_SNAPSHOTS``)."""
    assert mask_asset_hashes(synthesized.envs[env_name].others[construct_id]) == snapshot_json


@pytest.mark.parametrize("env_name", ["prod"])
def test_github_oidc_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion, env_name: str
) -> None:
    """The OIDC stack of prod's account: every account's stack has the same resources, with
    that account's names (the trust conditions are checked per account in test_github_oidc)."""
    account = synthesized.envs[env_name].config.account
    assert synthesized.oidc[account] == snapshot_json


def test_every_stack_besides_the_tiers_has_a_snapshot(synthesized: Synthesized) -> None:
    """A new kind of sibling stack (like the edge stack) must get a snapshot too."""
    others = {
        (name, construct_id)
        for name, env in synthesized.envs.items()
        for construct_id in env.others
    }
    assert others == set(OTHER_SNAPSHOTS)
