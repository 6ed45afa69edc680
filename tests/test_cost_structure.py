"""`make cost`'s rules are data: every type classified once, the always-on types exactly those
the rule table prices, every row's price in the price file and priced by its shape."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import cost
from cost import shapes
from cost.billing import (
    FREE_TYPES,
    RESOURCE_BILLING,
    USAGE_TYPES,
    Billing,
    billing_of,
    unclassified_types,
)
from cost.compute import FARGATE_PRICES
from cost.estimate import estimate
from cost.prices import PriceId, load_prices
from cost.rules import ALWAYS_ON_TYPES, FLOOR_RULES, MODELED, MODELED_BY_TYPE
from cost.templates import load_assemblies
from cost.usage import USAGE_RULES, UsageKind
from tests.cost_helpers import estimate_of, resource, write_assembly
from tests.synth import Synthesized

COUNTING_ROWS = [r for r in FLOOR_RULES if isinstance(r, shapes.PerResource)]
"""The rows that only count (every rule but the ``Special`` ones)."""
PER_ITEM = [r for r in COUNTING_ROWS if isinstance(r, shapes.PerItem)]
PER_RESOURCE = [r for r in COUNTING_ROWS if r not in PER_ITEM]


def test_every_synthesized_resource_type_is_classified(synthesized: Synthesized) -> None:
    types = {
        body["Type"]
        for path in synthesized.template_files()
        for body in json.loads(path.read_text()).get("Resources", {}).values()
    }
    assert unclassified_types(types) == [], "classify these in cost/billing.py"


def test_every_always_on_type_has_a_pricing_rule() -> None:
    always_on = {t for t, billing in RESOURCE_BILLING.items() if billing is Billing.ALWAYS_ON}
    assert always_on == ALWAYS_ON_TYPES
    assert always_on == {r.resource_type for r in FLOOR_RULES} | set(MODELED_BY_TYPE)


def test_custom_resources_are_usage_but_unknown_aws_types_are_not_accepted() -> None:
    assert billing_of("Custom::LogRetention") is Billing.USAGE
    assert billing_of("AWS::EC2::TransitGateway") is None
    assert unclassified_types(["AWS::IAM::Role", "AWS::EC2::TransitGateway"]) == [
        "AWS::EC2::TransitGateway"
    ]


def test_a_type_is_in_exactly_one_billing_class() -> None:
    classes = {"always-on": ALWAYS_ON_TYPES, "usage": USAGE_TYPES, "free": FREE_TYPES}
    for name, types in classes.items():
        for other, other_types in classes.items():
            if name < other:
                assert not types & other_types, f"both {name} and {other}"
    assert len(RESOURCE_BILLING) == sum(len(types) for types in classes.values())


def test_price_file_is_dated_and_every_price_has_a_unit_and_source() -> None:
    prices = load_prices()

    assert prices.region == "us-east-1"
    assert prices.as_of[:2] == "20"
    for price_id in PriceId:
        assert prices[price_id].source.startswith("https://"), price_id
        assert prices[price_id].unit, price_id


def test_every_rule_row_prices_from_the_price_book_per_its_period() -> None:
    """A row's price id is in the price file, and what that price buys is the row's period."""
    prices = load_prices()
    for row in COUNTING_ROWS:
        assert f"-{row.period}" in prices[row.price_id].unit, row
    for rule in USAGE_RULES:
        assert all(prices[price_id].usd >= 0 for price_id in rule.price_ids), rule
    for vcpu, memory in FARGATE_PRICES.values():
        assert "vCPU-hour" in prices[vcpu].unit
        assert "GB-hour" in prices[memory].unit


def test_every_price_of_the_file_is_used_by_a_rule() -> None:
    """No dead price: each ``PriceId`` is named by a rule row or a rule function."""
    package = Path(cost.__file__).parent
    source = "\n".join(
        path.read_text() for path in package.glob("*.py") if path.name != "prices.py"
    )
    assert set(re.findall(r"PriceId\.([A-Z0-9_]+)", source)) == set(PriceId.__members__)


PER_INSTANCE_TYPE_KINDS = {UsageKind.EC2_ON_DEMAND}
"""Usage kinds with an item per instance type found (``usage_items`` adds them, at their place
in the report), not one rule."""


def test_every_usage_kind_has_one_rule_in_report_order() -> None:
    kinds = list(dict.fromkeys(rule.kind for rule in USAGE_RULES))
    assert kinds == [kind for kind in UsageKind if kind not in PER_INSTANCE_TYPE_KINDS]


def test_the_shipped_usage_items_come_in_report_order_with_the_on_demand_instances(
    synthesized: Synthesized,
) -> None:
    """Every shipped environment has operator access: its stopped-when-idle instance's hours
    are a usage item of its own kind, in report order with the rules' items."""
    order = list(UsageKind)
    prices = load_prices()
    for assembly in load_assemblies(synthesized.outdir):
        if not assembly.name.startswith("github-"):
            kinds = [item.kind for item in estimate(assembly, prices).usage]
            assert kinds == sorted(kinds, key=order.index), assembly.name
            assert UsageKind.EC2_ON_DEMAND in kinds, assembly.name


def satisfying(conditions: tuple[shapes.Condition, ...]) -> dict[str, Any]:
    """Properties for which every condition holds (the first on a property decides it)."""
    properties: dict[str, Any] = {}
    for condition in conditions:
        if isinstance(condition, shapes.Contains):
            properties.setdefault(condition.name, [condition.item])
        elif not isinstance(condition, shapes.IsNot):
            properties.setdefault(condition.name, condition.values[0])
    return properties


def priced(row: shapes.PerResource) -> dict[str, Any]:
    """Properties of a resource the row prices: its conditions and its type's shape hold."""
    modeled = MODELED_BY_TYPE.get(row.resource_type)
    properties = satisfying(row.when + ((modeled.shape,) if modeled is not None else ()))
    if isinstance(row, shapes.PerItem):
        properties[row.items[0]] = [{}]
    return properties


@pytest.mark.parametrize("row", PER_RESOURCE, ids=lambda row: f"{row.kind}")
def test_a_per_resource_row_prices_one_unit_per_resource(
    row: shapes.PerResource, tmp_path: Path
) -> None:
    write_assembly(tmp_path, "one", {"Stack": {"It": resource(row.resource_type, **priced(row))}})
    prices = load_prices()

    (line,) = [line for line in estimate_of(tmp_path, "one").lines if line.kind is row.kind]
    assert (line.description, line.quantity, line.unit) == (row.description, Decimal(1), row.unit)
    assert (line.unit_price_usd, line.period) == (prices[row.price_id].usd, row.period)
    assert line.note == row.note


@pytest.mark.parametrize("row", PER_ITEM, ids=lambda row: f"{row.kind}")
def test_a_per_item_row_counts_the_items_of_its_list(row: shapes.PerItem, tmp_path: Path) -> None:
    with_items = {**priced(row), row.items[0]: [{}, {}, {}]}
    properties = {**priced(row), row.items[0]: []}
    write_assembly(
        tmp_path,
        "items",
        {
            "Stack": {
                "Three": resource(row.resource_type, **with_items),
                "None": resource(row.resource_type, **properties),
            }
        },
    )
    result = estimate_of(tmp_path, "items")

    (line,) = [line for line in result.lines if line.kind is row.kind]
    refused = [u for u in result.unpriced if u.logical_id == "None"]
    if row.empty is None:
        assert line.quantity == 2 * row.base + 3
        assert refused == []
    else:
        assert line.quantity == row.base + 3
        assert [u.reason for u in refused] == [row.empty]


def failing(row: shapes.PerResource, condition: shapes.Condition) -> Any:
    """A value of the condition's property for which it fails (in its type's priced shapes)."""
    if isinstance(condition, shapes.Contains):
        return []
    if isinstance(condition, shapes.IsNot):
        return condition.values[0]
    modeled = MODELED_BY_TYPE.get(row.resource_type)
    priced = modeled.shape.values if modeled and modeled.shape.name == condition.name else ()
    return next((v for v in priced if v not in condition.values), "something-else")


@pytest.mark.parametrize("row", [r for r in COUNTING_ROWS if r.when], ids=lambda row: row.kind)
def test_a_row_prices_nothing_where_its_condition_fails(
    row: shapes.PerResource, tmp_path: Path
) -> None:
    for index, condition in enumerate(row.when):
        properties = {**priced(row), condition.name: failing(row, condition)}
        name = f"fails{index}"
        write_assembly(tmp_path, name, {"Stack": {"It": resource(row.resource_type, **properties)}})

        assert row.kind not in {line.kind for line in estimate_of(tmp_path, name).lines}, condition


@pytest.mark.parametrize("modeled", MODELED, ids=lambda modeled: modeled.resource_type)
def test_a_shape_the_model_does_not_price_is_reported_with_its_reason(
    modeled: shapes.Modeled, tmp_path: Path
) -> None:
    write_assembly(
        tmp_path,
        "odd",
        {"Stack": {"Odd": resource(modeled.resource_type, **{modeled.shape.name: "Exotic"})}},
    )
    result = estimate_of(tmp_path, "odd")

    assert [u.reason for u in result.unpriced] == [modeled.otherwise.format("Exotic")]
    assert result.lines == ()
