"""Rules that compute: Synthetics canary runs and CloudWatch alarm metrics."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from cost.lines import HOURS_PER_MONTH, Findings, LineKind, Period
from cost.prices import PriceId
from cost.templates import Resource, Stack, literal_decimal

DEEP_HEALTH_MARKER = '/deep"'
"""A canary URL ending in the reference app's deep health check (web -> API -> database)."""
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_MINUTES_PER = {"minute": 1, "hour": 60, "day": 1440}


def runs_per_month(expression: str) -> Decimal | None:
    """Runs a month of a ``rate(...)`` schedule; None for cron or malformed expressions."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    every = int(match.group(1)) * _MINUTES_PER[match.group(2).rstrip("s")]
    if every == 0:
        return Decimal(0)  # rate(0 minute): runs once after creation
    return HOURS_PER_MONTH * 60 / every


def _canary_database_time(resource: Resource) -> str:
    """What the canary costs in database time: nothing, by design (see web_stack)."""
    variables = (resource.properties.get("RunConfig") or {}).get("EnvironmentVariables") or {}
    if DEEP_HEALTH_MARKER in json.dumps(variables):
        return (
            "database time: none above the floor (the deep check reaches the database, which "
            "runs at its minimum anyway: never deep where it auto-pauses)"
        )
    return "database time: 0 ACU-hours (checks the web tier only, never the database)"


def canary(resource: Resource, stack: Stack, found: Findings) -> None:
    """Its runs a month, from a rate() schedule."""
    expression = str((resource.properties.get("Schedule") or {}).get("Expression", ""))
    found.add_runs(
        resource,
        expression,
        runs_per_month(expression),
        (LineKind.CANARY_RUNS, "Synthetics canary runs", "run", PriceId.SYNTHETICS_CANARY_RUN),
        expected="a rate() expression",
        details=[expression, _canary_database_time(resource)],
        note="plus the canary's Lambda, S3 artifacts and logs (usage)",
    )


def alarm(resource: Resource, stack: Stack, found: Findings) -> None:
    """One alarm metric per metric it reads (three for anomaly detection), by resolution."""
    props = resource.properties
    metrics: list[dict[str, Any]] = props.get("Metrics") or []
    if any("SELECT" in str(m.get("Expression", "")).upper() for m in metrics):
        found.cannot_price(resource, "Metrics Insights query alarms are not modeled")
        return
    stats = [m["MetricStat"] for m in metrics if isinstance(m.get("MetricStat"), dict)]
    periods = [s.get("Period") for s in stats] if metrics else [props.get("Period")]
    alarm_metrics = max(1, len(stats))
    if any("ANOMALY_DETECTION_BAND" in str(m.get("Expression", "")) for m in metrics):
        alarm_metrics *= 3  # an anomaly detection alarm bills three metrics per metric
    high = any((literal_decimal(p) or Decimal(60)) < 60 for p in periods)
    found.add(
        LineKind.ALARMS_HIGH_RESOLUTION if high else LineKind.ALARMS_STANDARD,
        "CloudWatch alarms, " + ("high resolution" if high else "standard resolution"),
        alarm_metrics,
        "alarm metric",
        PriceId.ALARM_HIGH_RESOLUTION_METRIC_MONTH if high else PriceId.ALARM_STANDARD_METRIC_MONTH,
        Period.MONTH,
        note="a metric math alarm bills one alarm metric per metric it reads",
    )
