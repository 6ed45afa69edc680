"""What safe releases add to an environment's always-on floor: the alarms that roll a web or API
release back (named ``<app>-<env>-<tier>-release-<what>`` by the web runtime and the API's
release construct). Everything else a release needs bills nothing while idle: CodeDeploy to
Lambda is free, the second target group, the test listener and its rules have no charge of
their own, and the pre-traffic hook is one invocation per release (usage)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cost.prices import PriceBook, PriceId
from cost.templates import Assembly

RELEASE_TIERS = ("web", "api")
"""The tiers whose releases have rollback alarms, as their alarm names spell them."""


@dataclass(frozen=True)
class ReleaseRow:
    """One tier's rollback alarms and their monthly price."""

    tier: str
    alarms: int
    alarm_metrics: int
    usd: Decimal


def _alarm_metrics(properties: Mapping[str, Any]) -> int:
    """Billed metrics of an alarm: one per metric a math alarm reads, else one."""
    metrics: list[dict[str, Any]] = properties.get("Metrics") or []
    return max(1, len([metric for metric in metrics if "MetricStat" in metric]))


def release_rows(assembly: Assembly, prices: PriceBook) -> tuple[ReleaseRow, ...]:
    """Per tier with rollback alarms: how many, their billed metrics and price (standard
    resolution; before the account's 10 free alarm metrics)."""
    metric_price = prices[PriceId.ALARM_STANDARD_METRIC_MONTH].usd
    rows = []
    for tier in RELEASE_TIERS:
        marker = f"-{tier}-release-"
        alarms = [
            alarm.properties
            for alarm in assembly.of_type("AWS::CloudWatch::Alarm")
            if marker in str(alarm.properties.get("AlarmName", ""))
        ]
        if alarms:
            metrics = sum(_alarm_metrics(alarm) for alarm in alarms)
            rows.append(ReleaseRow(tier, len(alarms), metrics, metrics * metric_price))
    return tuple(rows)
