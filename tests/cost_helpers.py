"""What the `make cost` tests share: templates laid out as cdk.out does, the shipped estimates.

No tests here; the ``test_cost*`` modules import these helpers and the ``shipped`` fixture.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from cost.estimate import Estimate, estimate
from cost.lines import LineKind
from cost.prices import load_prices
from cost.templates import load_assemblies
from stacks.config import APP_CONFIG
from tests.synth import Synthesized

HOURS = Decimal(730)


def cents(amount: Decimal) -> Decimal:
    """Round half up to the cent (the test's own rounding, independent of the model's)."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def resource(resource_type: str, **properties: Any) -> dict[str, Any]:
    return {"Type": resource_type, "Properties": properties}


def write_assembly(cdk_out: Path, name: str, stacks: dict[str, dict[str, dict[str, Any]]]) -> Path:
    """Templates (stack -> resources) laid out as cdk.out does: assembly-<name>/*.template.json."""
    folder = cdk_out / f"assembly-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    for stack, resources in stacks.items():
        (folder / f"{stack}.template.json").write_text(json.dumps({"Resources": resources}))
    return cdk_out


def estimate_of(cdk_out: Path, name: str) -> Estimate:
    (found,) = [a for a in load_assemblies(cdk_out) if a.name == name]
    return estimate(found, load_prices())


def monthly_by_kind(result: Estimate) -> dict[LineKind, Decimal]:
    kinds = [line.kind for line in result.lines]
    assert len(kinds) == len(set(kinds)), f"one line per kind expected: {kinds}"
    return {line.kind: line.monthly_usd for line in result.lines}


@pytest.fixture(scope="module")
def shipped(synthesized: Synthesized) -> dict[str, Estimate]:
    """Every synthesized assembly's estimate, free allowances on each account's first one."""
    prices = load_prices()
    first = {envs[0].name for envs in APP_CONFIG.accounts().values()}
    return {
        a.name: estimate(a, prices, free_tier=a.name in first)
        for a in load_assemblies(synthesized.outdir)
    }
