"""What happened to each tier's release, the waits it may take, and the job summary.

How long to wait comes from the ``Release`` output (the contract): every step and bake the
stacks configured, plus a margin for tasks to start, health checks and the pre-traffic hook.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cdk_constructs.options import ApiReleaseStrategy, WebReleaseStrategy
from release.contract import ApiRelease, WebRelease

WEB_MARGIN_MINUTES = 30
"""Beyond the steps and bakes: new tasks start and pass the target group's health checks,
blue/green tests the green fleet, the old tasks drain."""
API_MARGIN_MINUTES = 15
"""Beyond the steps: the pre-traffic hook runs and CodeDeploy moves the alias."""


class State(StrEnum):
    SHIFTED = "shifted"
    """The new release took all traffic and baked."""
    UNCHANGED = "unchanged"
    """This deploy released nothing new to the tier."""
    EXTERNAL = "rolled by App Runner"
    """Another step of the workflow rolls it out and checks it."""
    BY_STACK = "released by the stack update"
    """Nothing shifts traffic: the stack update's own outcome is the release's (the static
    site's upload and invalidation; microservices rolling with ECS's circuit breaker, which
    fails the update when it rolls back)."""
    ROLLED_BACK = "rolled back"
    FAILED = "failed"
    IN_PROGRESS = "still in progress"
    UNKNOWN = "not inspected"
    """Its stack or its deployments could not be read."""


OK_STATES = frozenset({State.SHIFTED, State.UNCHANGED, State.EXTERNAL, State.BY_STACK})


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """One tier's release as verify or explain found it."""

    tier: str
    state: State
    line: str
    """One line naming the tier and what happened (the alarm, the hook, ...)."""
    shifted: str = ""
    """What moved: task definition and image, or function version, before -> after."""
    strategy: str = ""
    bake: str = ""
    alarms: tuple[str, ...] = ()
    """The alarms the release watched."""
    record: str | None = None
    """What to record as the tier's current release (image URI, version), if anything."""

    @property
    def ok(self) -> bool:
        return self.state in OK_STATES


def web_step_minutes(release: WebRelease) -> int:
    """Minutes the web strategy's traffic steps bake before all traffic has moved."""
    match release.strategy:
        case WebReleaseStrategy.CANARY:
            return release.step_bake_minutes
        case WebReleaseStrategy.LINEAR:
            steps = math.ceil(100 / release.step_percent) if release.step_percent else 1
            return steps * release.step_bake_minutes
        case _:
            return 0


def web_wait_minutes(release: WebRelease) -> int:
    """The longest a web release may take: its steps, its bake, the margin."""
    return web_step_minutes(release) + release.bake_minutes + WEB_MARGIN_MINUTES


def api_step_minutes(release: ApiRelease) -> int:
    match release.strategy:
        case ApiReleaseStrategy.CANARY:
            return release.interval_minutes
        case ApiReleaseStrategy.LINEAR:
            steps = math.ceil(100 / release.percent) if release.percent else 1
            return steps * release.interval_minutes
        case _:
            return 0


def api_wait_minutes(release: ApiRelease) -> int:
    """The longest an API release may take: its intervals and the margin."""
    return api_step_minutes(release) + API_MARGIN_MINUTES


def web_strategy(release: WebRelease) -> str:
    percent = f"{release.step_percent:g}%"
    match release.strategy:
        case WebReleaseStrategy.CANARY:
            return f"canary: {percent} for {release.step_bake_minutes} min, then all"
        case WebReleaseStrategy.LINEAR:
            return f"linear: {percent} more every {release.step_bake_minutes} min"
        case WebReleaseStrategy.BLUE_GREEN:
            return "blue/green: all traffic to a tested new fleet"
        case _:
            return str(release.strategy).replace("_", " ")


def api_strategy(release: ApiRelease) -> str:
    match release.strategy:
        case ApiReleaseStrategy.CANARY:
            return f"canary: {release.percent}% for {release.interval_minutes} min, then all"
        case ApiReleaseStrategy.LINEAR:
            return f"linear: {release.percent}% more every {release.interval_minutes} min"
        case _:
            return "all at once"


def bake_text(configured: int, measured: float | None) -> str:
    """``15 min configured, 17.5 min measured`` (measured: the deployment's start to end)."""
    text = f"{configured} min configured"
    return text if measured is None else f"{text}, {measured:.1f} min measured"


def summary(env_name: str, outcomes: Sequence[Outcome], *, title: str = "Releases") -> str:
    """The job summary: a table of the tiers, then the line of each that did not succeed."""
    rows = [
        f"### {title} of {env_name}",
        "",
        "| tier | outcome | what shifted | strategy | bake | alarms watched |",
        "|---|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        cells = (
            outcome.tier,
            str(outcome.state),
            outcome.shifted or "-",
            outcome.strategy or "-",
            outcome.bake or "-",
            ", ".join(outcome.alarms) or "-",
        )
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    problems = [outcome.line for outcome in outcomes if not outcome.ok]
    if problems:
        rows += ["", *(f"- {line}" for line in problems)]
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
