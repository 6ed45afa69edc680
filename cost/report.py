"""The estimates as a table per environment (for people) or as JSON (for tools)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from cost.estimate import Estimate
from cost.lines import HOURS_PER_MONTH, CostLine, plain_number
from cost.prices import Price, PriceBook

DESCRIPTION_WIDTH = 46
QUANTITY_WIDTH = 16
PRICE_WIDTH = 26
AMOUNT_WIDTH = 10
RULE = "-" * (2 + DESCRIPTION_WIDTH + QUANTITY_WIDTH + PRICE_WIDTH + AMOUNT_WIDTH)


def group_estimates(
    estimates: Sequence[Estimate], environment_names: Sequence[str]
) -> tuple[list[Estimate], list[Estimate]]:
    """(configured environments in config order, every other assembly: account-level stacks)."""
    by_name = {e.name: e for e in estimates}
    environments = [by_name[name] for name in environment_names if name in by_name]
    others = [e for e in estimates if e.name not in environment_names]
    return environments, others


def price_text(usd: Decimal) -> str:
    """A unit price with at least two decimals and no exponent: 0.20, 0.0042, 0.0000133334."""
    normalized = usd.normalize()
    exponent = normalized.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        normalized = usd.quantize(Decimal("0.01"))
    return format(normalized, "f")


def _header(prices: PriceBook) -> list[str]:
    return [
        "Monthly AWS cost floor per environment, read from the synthesized templates",
        f"  Prices: {prices.region} on-demand list prices as of {prices.as_of} "
        f"(cost/{prices.path.name}); other regions differ.",
        f"  Always-on items are priced for {HOURS_PER_MONTH} hours a month. The always-free "
        "allowances are subtracted",
        "  once per account (on its first environment); other free tiers are not.",
        "  Usage-priced items are listed with their unit prices; they are not in the totals.",
    ]


def _line_row(line: CostLine) -> list[str]:
    quantity = f"{plain_number(line.quantity)} {line.unit}"
    price = f"x {price_text(line.unit_price_usd)} USD/{line.period}"
    description = line.description
    rows = []
    if len(description) >= DESCRIPTION_WIDTH:  # too wide for its column: a line of its own
        rows.append(f"  {description}")
        description = ""
    rows.append(
        f"  {description:<{DESCRIPTION_WIDTH}}{quantity:<{QUANTITY_WIDTH}}"
        f"{price:<{PRICE_WIDTH}}{line.monthly_usd:>{AMOUNT_WIDTH}}"
    )
    if line.details:
        rows.append(f"      ({', '.join(line.details)})")
    if line.note:
        rows.append(f"      note: {line.note}")
    return rows


def _unit_price_text(price: Price) -> str:
    return f"{price_text(price.usd)} USD per {price.unit}"


def _estimate_rows(estimate: Estimate, label: str) -> list[str]:
    stacks = f"{len(estimate.stacks)} stack{'' if len(estimate.stacks) == 1 else 's'}"
    rows = ["", f"== {estimate.name} ({label}; {stacks}) =="]
    if estimate.lines:
        rows.append(
            f"  {'Always-on floor':<{DESCRIPTION_WIDTH}}{'quantity':<{QUANTITY_WIDTH}}"
            f"{'unit price':<{PRICE_WIDTH}}{'USD/month':>{AMOUNT_WIDTH}}"
        )
        for line in estimate.lines:
            rows.extend(_line_row(line))
        rows.append(RULE)
    else:
        rows.append("  No always-on resources.")
    total_label = f"Total always-on floor, {estimate.name}"
    rows.append(
        f"  {total_label:<{DESCRIPTION_WIDTH + QUANTITY_WIDTH + PRICE_WIDTH}}"
        f"{estimate.total_usd:>{AMOUNT_WIDTH}}"
    )
    if estimate.hardening and label == "environment":
        rows.append("  Production hardening, added to the floor above (USD/month):")
        rows.extend(f"    {row.point:<48}{row.usd:>8}  ({row.note})" for row in estimate.hardening)
    if estimate.releases:
        rows.append("  Safe releases, rollback alarms in the floor above (USD/month):")
        rows.extend(
            f"    {row.tier:<48}{row.usd:>8}  ({row.alarms} alarms, {row.alarm_metrics} alarm "
            "metrics; CodeDeploy, target groups and listeners add nothing)"
            for row in estimate.releases
        )
    if estimate.usage:
        rows.append("  Usage-priced (pay per use; not in the total):")
        for item in estimate.usage:
            first, *rest = item.prices
            rows.append(f"    {item.description}: {_unit_price_text(first)}")
            rows.extend(f"      {_unit_price_text(price)}" for price in rest)
    if estimate.unpriced:
        rows.append("  NOT PRICED (the floor above is incomplete):")
        rows.extend(
            f"    {u.stack}/{u.logical_id} ({u.resource_type}): {u.reason}"
            for u in estimate.unpriced
        )
    if estimate.warnings:
        rows.append("  Warnings:")
        rows.extend(f"    - {warning}" for warning in estimate.warnings)
    return rows


def render_text(
    environments: Sequence[Estimate], account_level: Sequence[Estimate], prices: PriceBook
) -> str:
    """Per environment: the floor line by line, its total, the usage-priced items."""
    rows = _header(prices)
    for estimate in environments:
        rows.extend(_estimate_rows(estimate, "environment"))
    for estimate in account_level:
        rows.extend(_estimate_rows(estimate, "account-level stacks"))
    if environments:
        summary = ", ".join(f"{e.name} {e.total_usd}" for e in environments)
        rows.extend(["", f"Always-on floor, USD/month: {summary}"])
    return "\n".join(rows) + "\n"


def _number(value: Decimal) -> int | float:
    """A Decimal as a JSON number (exact for cents and list prices)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _estimate_json(estimate: Estimate) -> dict[str, Any]:
    return {
        "stacks": list(estimate.stacks),
        "always_on": [
            {
                "kind": line.kind.value,
                "description": line.description,
                "details": list(line.details),
                "quantity": _number(line.quantity),
                "unit": line.unit,
                "unit_price_usd": _number(line.unit_price_usd),
                "price_per": line.period.value,
                "price_id": line.price_id,
                "monthly_usd": _number(line.monthly_usd),
                "note": line.note,
            }
            for line in estimate.lines
        ],
        "total_usd": _number(estimate.total_usd),
        "usage": [
            {
                "kind": item.kind.value,
                "description": item.description,
                "prices": [
                    {"price_id": p.id, "usd": _number(p.usd), "unit": p.unit} for p in item.prices
                ],
            }
            for item in estimate.usage
        ],
        "unpriced": [
            {
                "stack": u.stack,
                "logical_id": u.logical_id,
                "type": u.resource_type,
                "reason": u.reason,
            }
            for u in estimate.unpriced
        ],
        "warnings": list(estimate.warnings),
    }


def render_json(
    environments: Sequence[Estimate], account_level: Sequence[Estimate], prices: PriceBook
) -> str:
    """The same report as JSON: per environment its lines, total and usage items."""
    document = {
        "region": prices.region,
        "prices_as_of": prices.as_of,
        "price_file": f"cost/{prices.path.name}",
        "currency": "USD",
        "hours_per_month": _number(HOURS_PER_MONTH),
        "environments": {e.name: _estimate_json(e) for e in environments},
        "account_level": {e.name: _estimate_json(e) for e in account_level},
    }
    return json.dumps(document, indent=2) + "\n"
