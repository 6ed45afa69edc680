"""`make cost` says what the rollback alarms of safe releases add to each environment's floor:
exactly the alarms each stack's `Release` output names, at the standard alarm metric price (none
where a stack's release has no rollback alarm: the S3M shape's static site and services)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from cost.estimate import Estimate
from cost.prices import PriceId, load_prices
from cost.report import render_text
from release.contract import RELEASE_OUTPUT
from tests.cost_helpers import shipped as shipped  # the fixture, for pytest
from tests.synth import Synthesized
from tests.template_queries import output_value, resources


def release_alarms(template: dict[str, Any]) -> tuple[str, ...]:
    """The alarm names of a stack's ``Release`` output: the function's and the web runtime's
    contracts name them; the S3M shape's static site and rolling services have none."""
    alarms: list[str] = json.loads(output_value(template, RELEASE_OUTPUT)).get("alarms", [])
    return tuple(alarms)


def test_each_tier_prices_the_alarms_its_release_output_names(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    metric = load_prices()[PriceId.ALARM_STANDARD_METRIC_MONTH].usd
    for name, env in synthesized.envs.items():
        named = {"web": release_alarms(env.web_json), "api": release_alarms(env.api_json)}
        rows = {row.tier: row for row in shipped[name].releases}
        assert set(rows) == {tier for tier, alarms in named.items() if alarms}, name
        for tier, alarms in named.items():
            if not alarms:
                continue
            template = env.web_json if tier == "web" else env.api_json
            found = [
                alarm["Properties"]
                for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
                if alarm["Properties"]["AlarmName"] in alarms
            ]
            assert rows[tier].alarms == len(alarms) == len(found), (name, tier)
            billed = sum(
                max(1, len([m for m in a.get("Metrics", []) if "MetricStat" in m])) for a in found
            )
            assert rows[tier].alarm_metrics == billed
            assert rows[tier].usd == billed * metric > Decimal(0)


def test_the_report_shows_the_release_block_under_each_environment(
    shipped: dict[str, Estimate],
) -> None:
    for name in ("dev", "staging", "prod"):
        text = render_text([shipped[name]], [], load_prices())
        assert "Safe releases, rollback alarms in the floor above" in text
        for row in shipped[name].releases:
            assert f"{row.usd:>8}  ({row.alarms} alarms, {row.alarm_metrics} alarm metrics" in text
