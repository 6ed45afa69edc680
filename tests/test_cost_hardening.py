"""`make cost` says, per environment, what each production hardening point adds to the floor:
read off the floor's own lines, so it agrees with them."""

from __future__ import annotations

from decimal import Decimal

from cost.estimate import Estimate
from cost.lines import LineKind
from cost.prices import PriceId, load_prices
from tests.cost_helpers import shipped as shipped  # the fixture, for pytest
from tests.synth import Synthesized


def by_point(estimate: Estimate) -> dict[str, Decimal]:
    return {row.point.split(" ", 1)[0]: row.usd for row in estimate.hardening}


def line_usd(estimate: Estimate, kind: LineKind) -> Decimal:
    return sum((line.monthly_usd for line in estimate.lines if line.kind is kind), Decimal(0))


def test_every_point_is_reported_in_every_environment(shipped: dict[str, Estimate]) -> None:
    for estimate in shipped.values():
        if estimate.name.startswith("github-"):
            continue
        assert list(by_point(estimate)) == [str(n) for n in range(1, 11)]


def test_monitoring_and_backups_add_their_own_lines_and_nothing_else_adds_to_the_floor(
    shipped: dict[str, Estimate], synthesized: Synthesized
) -> None:
    prices = load_prices()
    key = prices[PriceId.KMS_KEY_MONTH].usd
    alarm = prices[PriceId.ALARM_STANDARD_METRIC_MONTH].usd
    for name, env in synthesized.envs.items():
        points = by_point(shipped[name])
        assert points["4"] == line_usd(shipped[name], LineKind.RDS_ENHANCED_MONITORING)
        backups = env.config.backup.active(env.config.retain_data)
        restore = line_usd(shipped[name], LineKind.BACKUP_RESTORE_TESTS)
        # Restore tests where the engine has one (Aurora); a DB instance engine's backups run
        # without them.
        tested = any(
            body["Type"] == "AWS::Backup::RestoreTestingSelection"
            for body in env.data_json["Resources"].values()
        )
        assert (restore > 0) is tested, name
        assert backups or not tested, name
        # The vault key and the two failed-job alarms (one backup, one restore metric each per
        # resource type) besides the restore tests.
        assert (points["7"] > restore) is backups, name
        assert (points["7"] - restore) in (
            {key + n * alarm for n in range(2, 9)} if backups else {0}
        )
        assert all(usd == 0 for point, usd in points.items() if point not in ("4", "7")), name
    assert by_point(shipped["prod"])["7"] == Decimal("14.64")
