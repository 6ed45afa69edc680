"""Snapshots of every stack of every environment (in addition to the relation tests).

Update after an intended change with: .venv/bin/pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import ENV_NAMES, Synthesized

_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def mask_asset_hashes(template: dict[str, Any]) -> Any:
    """Asset hashes change with CDK's bundled code, not with this app: mask them."""
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template)))


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("env_name", ENV_NAMES)
@pytest.mark.parametrize("stack", ["network", "data", "api", "web", "ops"])
def test_stack_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion, env_name: str, stack: str
) -> None:
    env = synthesized.envs[env_name]
    templates = {
        "network": env.network_json,
        "data": env.data_json,
        "api": env.api_json,
        "web": env.web_json,
        "ops": env.ops_json,
    }
    assert mask_asset_hashes(templates[stack]) == snapshot_json


@pytest.mark.parametrize("env_name", ENV_NAMES)
def test_github_oidc_snapshot(
    synthesized: Synthesized, snapshot_json: SnapshotAssertion, env_name: str
) -> None:
    """The OIDC stack of each environment's account (one per account)."""
    account = synthesized.envs[env_name].config.account
    assert synthesized.oidc[account] == snapshot_json
