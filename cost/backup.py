"""AWS Backup restore tests: each restore testing selection restores once per run of its plan."""

from __future__ import annotations

import re
from decimal import Decimal

from cost.lines import HOURS_PER_MONTH, Findings, LineKind
from cost.prices import PriceId
from cost.templates import Resource, Stack

PLAN_TYPE = "AWS::Backup::RestoreTestingPlan"
WEEKS_PER_MONTH = HOURS_PER_MONTH / (7 * 24)
DAYS_OF_WEEK = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON = re.compile(r"^cron\(\s*(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\s*\)$")
_FIXED = re.compile(r"^\d+(,\d+)*$")


def _count(field: str, allowed: tuple[str, ...] = ()) -> int | None:
    """How many values a cron field lists (``5``, ``1,15``, ``MON,THU``); None for ranges,
    steps or wildcards, which the model does not count."""
    if _FIXED.match(field):
        return len(field.split(","))
    names = field.upper().split(",")
    if allowed and all(name in allowed for name in names):
        return len(names)
    return None


def cron_runs_per_month(expression: str) -> Decimal | None:
    """Runs a month of an AWS ``cron(...)``: fixed minutes and hours on every day, on listed
    days of the week, or on listed days of the month; None for any other shape."""
    match = _CRON.match(expression.strip())
    if not match:
        return None
    minutes, hours, day_of_month, month, day_of_week, _year = match.groups()
    per_day = (_count(minutes) or 0) * (_count(hours) or 0)
    if per_day == 0 or month != "*":
        return None
    if day_of_month in ("*", "?") and day_of_week in ("*", "?"):
        return Decimal(per_day) * HOURS_PER_MONTH / 24
    if day_of_month == "?":
        days = _count(day_of_week, DAYS_OF_WEEK)
        return None if days is None else Decimal(per_day * days) * WEEKS_PER_MONTH
    days = _count(day_of_month)
    return None if days is None or day_of_week != "?" else Decimal(per_day * days)


def restore_test(resource: Resource, stack: Stack, found: Findings) -> None:
    """A restore test job per run of the selection's plan (the restored resources, kept for
    the validation window, bill as their own service: usage)."""
    name = resource.properties.get("RestoreTestingPlanName")
    plans = [
        plan
        for plan in stack.of_type(PLAN_TYPE)
        if plan.properties.get("RestoreTestingPlanName") == name
    ]
    if len(plans) != 1:
        found.cannot_price(resource, f"no restore testing plan {name!r} in its stack")
        return
    expression = str(plans[0].properties.get("ScheduleExpression", "cron(0 5 ? * * *)"))
    found.add_runs(
        resource,
        expression,
        cron_runs_per_month(expression),
        (
            LineKind.BACKUP_RESTORE_TESTS,
            "AWS Backup restore tests",
            "restore test",
            PriceId.BACKUP_RESTORE_TEST,
        ),
        expected="a cron the model counts",
        details=[f"{resource.properties.get('ProtectedResourceType')}: {expression}"],
        note="plus the restored data (DynamoDB: per GB) while it is validated (usage)",
    )
