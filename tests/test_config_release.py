"""``web.release`` and ``api.release``: the shipped strategies per environment, and the rules
ECS and CodeDeploy set, each refused at config time with one line."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from cdk_constructs.options import ApiReleaseStrategy, WebReleaseStrategy, WebRuntime
from stacks.config import APP_CONFIG, RUNTIME_SPECS
from stacks.config.sections import ApiReleaseConfig, WebReleaseConfig
from tests.config_helpers import assert_one_line, error_of, with_web


def with_api_release(**release: Any) -> object:
    return replace(
        APP_CONFIG.environment("dev"),
        api=replace(APP_CONFIG.environment("dev").api, release=ApiReleaseConfig(**release)),
    )


def test_shipped_strategies_go_from_fast_in_dev_to_blue_green_in_prod() -> None:
    dev, staging, prod = (APP_CONFIG.environment(name) for name in ("dev", "staging", "prod"))
    assert (dev.web.release.strategy, dev.api.release.strategy) == (
        WebReleaseStrategy.ROLLING,
        ApiReleaseStrategy.ALL_AT_ONCE,
    )
    assert staging.web.release == WebReleaseConfig(
        strategy=WebReleaseStrategy.CANARY, step_percent=10, step_bake_minutes=5, bake_minutes=10
    )
    assert staging.api.release.strategy is ApiReleaseStrategy.CANARY
    assert prod.web.release.strategy is WebReleaseStrategy.BLUE_GREEN
    assert prod.web.release.bake_minutes >= 3 * prod.web.canary_interval_minutes
    assert prod.api.release.strategy is ApiReleaseStrategy.CANARY


def test_a_bake_watches_at_least_one_canary_run_where_there_is_one() -> None:
    for env in APP_CONFIG.environments:
        release = env.web.release
        if release.strategy is WebReleaseStrategy.ROLLING:
            continue
        watched = release.bake_minutes + (
            release.step_bake_minutes if release.strategy is WebReleaseStrategy.CANARY else 0
        )
        assert watched >= env.web.canary_interval_minutes, env.name


@pytest.mark.parametrize(
    ("release", "field", "allowed"),
    [
        # deployment-type-linear.html: "stepPercent 3.0 to 100.0"
        ({"strategy": "linear", "step_percent": 2.0}, "step_percent", "3..100"),
        ({"strategy": "canary", "step_percent": 2.55}, "step_percent", "steps of 0.1"),
        ({"strategy": "rolling", "bake_minutes": 5}, "bake_minutes", "bake_minutes=0"),
    ],
)
def test_web_release_rules_are_one_line(release: dict[str, Any], field: str, allowed: str) -> None:
    error = error_of(lambda: with_web("dev", release=WebReleaseConfig(**release)))
    assert_one_line(error, "dev", f"web.release.{field}", allowed)


def test_a_runtime_refuses_a_strategy_its_spec_does_not_list() -> None:
    assert RUNTIME_SPECS[WebRuntime.FARGATE].release_strategies == frozenset(WebReleaseStrategy)
    assert RUNTIME_SPECS[WebRuntime.APP_RUNNER].release_strategies == {WebReleaseStrategy.ROLLING}
    canary = WebReleaseConfig(strategy=WebReleaseStrategy.CANARY)
    error = error_of(
        lambda: with_web("dev", runtime=WebRuntime.APP_RUNNER, spot=False, release=canary)
    )
    assert_one_line(error, "dev", "web.release.strategy", "rolling with app_runner")


def test_api_release_shifts_within_codedeploy_limits() -> None:
    # https://docs.aws.amazon.com/codedeploy/latest/userguide/limits.html: 2880 minutes at most
    # between the first and the last traffic shift.
    longest_linear = ApiReleaseConfig(
        strategy=ApiReleaseStrategy.LINEAR, percent=4, interval_minutes=60
    )
    assert longest_linear.shift_minutes == 24 * 60 <= 2880
    error = error_of(lambda: with_api_release(strategy="linear", percent=1, interval_minutes=60))
    assert_one_line(error, "dev", "api.release.interval_minutes", "<= 2880")
    assert "5940 minutes" in str(error)
    assert (
        ApiReleaseConfig(strategy=ApiReleaseStrategy.CANARY, interval_minutes=7).shift_minutes == 7
    )
    assert ApiReleaseConfig().shift_minutes == 0
