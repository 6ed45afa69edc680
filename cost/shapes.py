"""The shapes of always-on pricing rules: a rule that only counts is a row of data, not code.

A row says which resource type it prices, what one unit costs (a price id and what it buys: an
hour or a month) and how many units a resource has: one per resource (``PerResource``: a NAT
gateway-hour, a key-month) or one per item of a list property (``PerItem``: an endpoint's
AZ-hours, a web ACL's rule-months). ``Modeled`` says which shapes of a type the model prices at
all; ``Special`` wraps a rule that really computes (an instance type's price, Aurora capacity,
Fargate tasks, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from decimal import Decimal
from typing import Any

from cost.lines import Findings, LineKind, Period
from cost.prices import PriceId
from cost.templates import Properties, Resource, Stack, list_length

PriceFunction = Callable[[Resource, Stack, Findings], None]

TRUE = (True, "true")
"""How a template spells a true boolean property."""


@dataclass(frozen=True)
class Is:
    """Holds when property ``name`` (``default`` when absent) is one of ``values``."""

    name: str
    values: tuple[Any, ...]
    default: Any = None

    def value(self, properties: Properties) -> Any:
        return properties.get(self.name, self.default)

    def holds(self, properties: Properties) -> bool:
        return self.value(properties) in self.values


@dataclass(frozen=True)
class IsNot(Is):
    """Holds when property ``name`` is none of ``values``."""

    def holds(self, properties: Properties) -> bool:
        return not super().holds(properties)


@dataclass(frozen=True)
class Contains:
    """Holds when the list property ``name`` contains ``item``."""

    name: str
    item: str

    def holds(self, properties: Properties) -> bool:
        return self.item in (properties.get(self.name) or [])


Condition = Is | Contains


@dataclass(frozen=True)
class PerResource:
    """One unit per resource of ``resource_type`` (where every ``when`` condition holds).

    A row reads ``PerResource(type, kind, description, unit, price id, period, when=...)``.
    """

    resource_type: str
    kind: LineKind
    description: str
    unit: str
    price_id: PriceId
    period: Period
    """What one unit (a gateway, an address, a key, ...) costs: an hour or a month of it."""
    _: KW_ONLY
    when: tuple[Condition, ...] = ()
    note: str | None = None

    def quantity(self, properties: Properties) -> Decimal | str:
        """How many units a resource has, or why that cannot be told."""
        return Decimal(1)

    def details(self, properties: Properties) -> list[str]:
        return []

    def price(self, resource: Resource, stack: Stack, found: Findings) -> None:
        props = resource.properties
        if not all(condition.holds(props) for condition in self.when):
            return
        quantity = self.quantity(props)
        if isinstance(quantity, str):
            found.cannot_price(resource, quantity)
            return
        found.add(
            self.kind,
            self.description,
            quantity,
            self.unit,
            self.price_id,
            self.period,
            details=self.details(props),
            note=self.note,
        )


@dataclass(frozen=True)
class PerItem(PerResource):
    """``base`` plus one unit per item of the first non-empty list property of ``items``: the
    AZs (subnets) of an interface endpoint or an ALB, a web ACL's rules, a secret's replicas."""

    _: KW_ONLY
    items: tuple[str, ...]
    base: int = 0
    empty: str | None = None
    """Why a resource without items cannot be priced; None: it is priced at ``base``."""
    detail: Callable[[Properties], str] | None = None
    """What the line shows of the resource (an endpoint's service, ...)."""

    def quantity(self, properties: Properties) -> Decimal | str:
        count = next((n for n in (list_length(properties.get(i)) for i in self.items) if n), 0)
        if count == 0 and self.empty is not None:
            return self.empty
        return Decimal(self.base + count)

    def details(self, properties: Properties) -> list[str]:
        return [self.detail(properties)] if self.detail else []


@dataclass(frozen=True)
class Modeled:
    """The shapes of an always-on type the model prices; any other shape is reported."""

    resource_type: str
    shape: Is
    otherwise: str
    """Why another shape is not priced; ``{}`` stands for the property's value."""

    def refusal(self, resource: Resource) -> str | None:
        if self.shape.holds(resource.properties):
            return None
        return self.otherwise.format(self.shape.value(resource.properties))


@dataclass(frozen=True)
class Special:
    """A rule that computes more than a count: its own function."""

    resource_type: str
    function: PriceFunction

    def price(self, resource: Resource, stack: Stack, found: Findings) -> None:
        self.function(resource, stack, found)


FloorRule = PerResource | PerItem | Special
