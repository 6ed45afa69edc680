"""The lines of a monthly floor, and what the pricing rules collect while they read a template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from cost.prices import Price, PriceBook, PriceId
from cost.templates import Resource

HOURS_PER_MONTH = Decimal(730)
"""AWS's own convention (8,760 hours / 12): an always-on hourly price runs 730 hours a month."""

CENT = Decimal("0.01")


class LineKind(StrEnum):
    """What a floor line prices; the order here is the order of the report."""

    NAT_GATEWAY = "nat_gateway"
    EC2_INSTANCE = "ec2_instance"
    EC2_DETAILED_MONITORING = "ec2_detailed_monitoring"
    EBS_VOLUME = "ebs_volume"
    PUBLIC_IPV4_EIP = "public_ipv4_eip"
    PUBLIC_IPV4_INSTANCE = "public_ipv4_instance"
    PUBLIC_IPV4_ALB = "public_ipv4_alb"
    PUBLIC_IPV4_NLB = "public_ipv4_nlb"
    PUBLIC_IPV4_TASK = "public_ipv4_task"
    INTERFACE_ENDPOINT = "interface_endpoint"
    AURORA_MIN_CAPACITY = "aurora_min_capacity"
    RDS_INSTANCE = "rds_instance"
    RDS_STORAGE = "rds_storage"
    RDS_PROXY_MIN_CAPACITY = "rds_proxy_min_capacity"
    RDS_PROXY_VCPU = "rds_proxy_vcpu"
    RDS_ENHANCED_MONITORING = "rds_enhanced_monitoring"
    ALB = "alb"
    NLB = "nlb"
    FARGATE_VCPU = "fargate_vcpu"
    FARGATE_MEMORY = "fargate_memory"
    APP_RUNNER_PROVISIONED_MEMORY = "app_runner_provisioned_memory"
    APP_RUNNER_AUTOMATIC_DEPLOYMENTS = "app_runner_automatic_deployments"
    API_GATEWAY_CACHE = "api_gateway_cache"
    WAF_WEB_ACL = "waf_web_acl"
    WAF_RULES = "waf_rules"
    CANARY_RUNS = "canary_runs"
    BACKUP_RESTORE_TESTS = "backup_restore_tests"
    SECRETS = "secrets"
    KMS_KEYS = "kms_keys"
    ALARMS_STANDARD = "alarms_standard"
    ALARMS_HIGH_RESOLUTION = "alarms_high_resolution"
    COMPOSITE_ALARMS = "composite_alarms"
    DASHBOARDS = "dashboards"
    COGNITO_M2M_CLIENTS = "cognito_m2m_clients"
    ALWAYS_FREE_TIER = "always_free_tier"


class Period(StrEnum):
    """What one unit price buys: an hour (x 730 a month), a month, or one run."""

    HOUR = "hour"
    MONTH = "month"
    RUN = "run"

    @property
    def per_month(self) -> Decimal:
        return HOURS_PER_MONTH if self is Period.HOUR else Decimal(1)


def to_cents(amount: Decimal) -> Decimal:
    """Round half up to the cent, as a bill does."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def plain_number(number: Decimal) -> str:
    """A Decimal without exponent or trailing zeros, at most 4 decimals: 8760, 0.25, 6257.1429."""
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.quantize(Decimal("0.0001")).normalize(), "f")


@dataclass(frozen=True, kw_only=True)
class CostLine:
    """One line of the monthly floor: ``quantity`` x ``unit_price_usd`` per ``period``."""

    kind: LineKind
    description: str
    details: tuple[str, ...] = ()
    """What the quantity is made of (endpoint services, instances x ACU, ...)."""
    quantity: Decimal
    unit: str
    """What the quantity counts (gateway, AZ, ACU, vCPU, GB, rule, run, ...)."""
    price_id: str
    unit_price_usd: Decimal
    period: Period
    note: str | None = None

    @property
    def monthly_usd(self) -> Decimal:
        return to_cents(self.quantity * self.unit_price_usd * self.period.per_month)


@dataclass(frozen=True)
class Unpriced:
    """A resource the model cannot price (unknown type, or a shape it does not model), and why."""

    stack: str
    logical_id: str
    resource_type: str
    reason: str


@dataclass
class Findings:
    """What the floor rules found in one assembly: lines, refusals and warnings."""

    prices: PriceBook
    lines: list[CostLine] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(
        self,
        kind: LineKind,
        description: str,
        quantity: Decimal | int,
        unit: str,
        price: PriceId | Price,
        period: Period,
        *,
        details: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        """A line at a price of the file's ``prices`` section (by id) or of a catalog."""
        listed = self.prices[price] if isinstance(price, PriceId) else price
        self.lines.append(
            CostLine(
                kind=kind,
                description=description,
                quantity=Decimal(quantity),
                unit=unit,
                price_id=listed.id,
                unit_price_usd=listed.usd,
                period=period,
                details=tuple(details),
                note=note,
            )
        )

    def add_runs(
        self,
        resource: Resource,
        schedule: str,
        runs: Decimal | None,
        line: tuple[LineKind, str, str, PriceId],
        *,
        expected: str,
        details: Sequence[str] = (),
        note: str | None = None,
    ) -> None:
        """``runs`` a month of a scheduled resource as a line ``(kind, description, unit,
        price)``, or ``resource`` refused when ``runs`` is None: its ``schedule`` is not
        ``expected`` (the kind of expression the model counts)."""
        if runs is None:
            self.cannot_price(resource, f"schedule {schedule!r} is not {expected}")
            return
        kind, description, unit, price = line
        self.add(kind, description, runs, unit, price, Period.RUN, details=details, note=note)

    def cannot_price(self, resource: Resource, reason: str) -> None:
        self.unpriced.append(Unpriced(resource.stack, resource.logical_id, resource.type, reason))

    def warn(self, resource: Resource, message: str) -> None:
        self.warnings.append(f"{resource.stack}/{resource.logical_id}: {message}")
