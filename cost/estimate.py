"""One assembly's estimate: its always-on lines merged, the free allowances, the usage items."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from cost.billing import Billing, billing_of
from cost.hardening import HardeningRow, hardening_rows
from cost.lines import CostLine, Findings, LineKind, Unpriced
from cost.prices import PriceBook
from cost.releases import ReleaseRow, release_rows
from cost.rules import price_always_on
from cost.templates import Assembly
from cost.usage import UsageItem, usage_items


@dataclass(frozen=True)
class Estimate:
    """One assembly's monthly floor, usage-priced items, and what could not be priced."""

    name: str
    stacks: tuple[str, ...]
    lines: tuple[CostLine, ...]
    usage: tuple[UsageItem, ...]
    unpriced: tuple[Unpriced, ...]
    warnings: tuple[str, ...]
    hardening: tuple[HardeningRow, ...] = ()
    """What each production hardening point adds to the floor (environments only)."""
    releases: tuple[ReleaseRow, ...] = ()
    """What the rollback alarms of safe releases add to the floor, per tier."""

    @property
    def total_usd(self) -> Decimal:
        """The always-on floor: the sum of the lines (each rounded to the cent)."""
        return sum((line.monthly_usd for line in self.lines), Decimal("0.00"))


ALWAYS_FREE_PER_ACCOUNT: dict[LineKind, Decimal] = {
    LineKind.DASHBOARDS: Decimal(3),
    LineKind.ALARMS_STANDARD: Decimal(10),
    LineKind.CANARY_RUNS: Decimal(100),
}
"""Free every month in every account, not only in the first year (CloudWatch: 3 dashboards,
10 standard alarm metrics; Synthetics: 100 canary runs)."""


def _merge(lines: Iterable[CostLine]) -> list[CostLine]:
    """One line per kind, description and price: quantities summed, details joined."""
    merged: dict[tuple[Any, ...], CostLine] = {}
    for line in lines:
        key = (line.kind, line.description, line.price_id, line.period, line.note)
        previous = merged.get(key)
        if previous is None:
            merged[key] = line
            continue
        details = previous.details + tuple(d for d in line.details if d not in previous.details)
        merged[key] = replace(previous, quantity=previous.quantity + line.quantity, details=details)
    order = list(LineKind)
    return sorted(merged.values(), key=lambda line: order.index(line.kind))


def _always_free(lines: Sequence[CostLine]) -> list[CostLine]:
    """Negative lines for the always-free allowances an account's first environment uses."""
    return [
        replace(
            line,
            kind=LineKind.ALWAYS_FREE_TIER,
            description=f"Always-free tier: {line.description}",
            quantity=-min(allowance, line.quantity),
            details=(),
            note=f"{allowance} per account per month; counted once per account",
        )
        for line in lines
        if (allowance := ALWAYS_FREE_PER_ACCOUNT.get(line.kind)) is not None
    ]


def estimate(assembly: Assembly, prices: PriceBook, *, free_tier: bool = False) -> Estimate:
    """Price every resource of an assembly; unknown types go to ``unpriced``, never to 0.

    ``free_tier``: subtract the account's always-free allowances (give it to one environment
    per account only, since the allowances are per account)."""
    found = Findings(prices)
    for stack in assembly.stacks:
        for resource in stack.resources.values():
            billing = billing_of(resource.type)
            if billing is None:
                found.cannot_price(resource, "resource type unknown to cost/billing.py")
            elif billing is Billing.ALWAYS_ON:
                price_always_on(resource, stack, found)
    lines = _merge(found.lines)
    hardening = hardening_rows(assembly, lines, prices)
    if free_tier:
        lines += _always_free(lines)
    return Estimate(
        name=assembly.name,
        stacks=tuple(stack.name for stack in assembly.stacks),
        lines=tuple(lines),
        usage=tuple(usage_items(assembly, prices)),
        unpriced=tuple(found.unpriced),
        warnings=tuple(found.warnings),
        hardening=hardening,
        releases=release_rows(assembly, prices),
    )
