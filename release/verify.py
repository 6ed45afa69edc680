"""``verify`` (after ``cdk deploy`` succeeded) and ``explain`` (after it failed): what each
tier's release did, from ECS and CodeDeploy themselves, never from CloudFormation's word alone.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from cdk_constructs.options import ApiKind
from release.api import ApiTarget, inspect_api
from release.aws import Clients, Clock, ReleaseError, Wait, aws_failure, read_stack
from release.outcome import (
    Outcome,
    State,
    api_wait_minutes,
    summary,
    web_wait_minutes,
)
from release.record import TIERS, parameter_name, record_release
from release.web import inspect_web, web_release
from stacks.config import AppConfig, EnvironmentConfig

SKEW = timedelta(minutes=2)
"""A deployment counts as this deploy's from this long before the stack update began (clocks
of CloudFormation, ECS and CodeDeploy differ a little)."""
NO_ROLLBACK = (
    "no release rolled back: the stack update failed for another reason; "
    "see the CloudFormation events"
)


@dataclass
class Tools:
    """What verify, explain and rollback act through (tests hand in fakes)."""

    clients: Clients
    clock: Clock
    summary_path: Path | None = None
    """``$GITHUB_STEP_SUMMARY``; None prints the summary instead."""


def verify(
    app: AppConfig, env: EnvironmentConfig, tools: Tools, tiers: Sequence[str] = TIERS
) -> int:
    """Waits for each tier's release to end; 0 when every one shifted (or had nothing to
    shift), after recording them; 1 with one line per tier that did not."""
    outcomes = [_inspect(app, env, tools, tier, explain=False) for tier in tiers]
    failed = False
    for outcome in outcomes:
        if outcome.ok and outcome.record is not None:
            name = parameter_name(app.app_name, env.name, outcome.tier)
            try:
                record_release(tools.clients.ssm, name, outcome.record, tools.clock.now())
            except (ClientError, BotoCoreError) as error:
                problem = f"{outcome.tier}: could not record {name}: {aws_failure(error)}"
                print(problem, file=sys.stderr)
                failed = True
        print(outcome.line, file=sys.stdout if outcome.ok else sys.stderr)
    _write_summary(tools, summary(env.name, outcomes))
    return 1 if failed or not all(outcome.ok for outcome in outcomes) else 0


def explain(app: AppConfig, env: EnvironmentConfig, tools: Tools) -> int:
    """Looks once at each tier's releases of this deploy (the deploy role's session at most)
    and names the tier that rolled back and on which alarm; always 0 (the caller fails)."""
    outcomes = [_inspect(app, env, tools, tier, explain=True) for tier in TIERS]
    lines = [outcome.line for outcome in outcomes if not outcome.ok]
    if not any(outcome.state in (State.ROLLED_BACK, State.FAILED) for outcome in outcomes):
        lines.append(NO_ROLLBACK)
    for line in lines:
        print(line)
    text = summary(env.name, outcomes, title="Failed deploy: releases")
    if NO_ROLLBACK in lines:
        text += f"\n{NO_ROLLBACK}\n"
    _write_summary(tools, text)
    return 0


def _inspect(
    app: AppConfig, env: EnvironmentConfig, tools: Tools, tier: str, *, explain: bool
) -> Outcome:
    """One tier's outcome; what cannot be read is an outcome too (``not inspected``)."""
    now = tools.clock.now()
    if tier == "api" and env.api.kind is ApiKind.PUBLIC_SERVICES:
        line = "api: the microservices roll with ECS's circuit breaker (it fails the stack update)"
        return Outcome(tier=tier, state=State.BY_STACK, line=line)
    try:
        stack = read_stack(tools.clients, app, env, tier)
        # explain: the releases of this deploy, which a CloudFormation rollback may follow.
        since = (
            now - timedelta(hours=app.github.deploy_session_hours)
            if explain
            else (stack.updated - SKEW)
        )
        if tier == "web":
            minutes = web_wait_minutes(web_release(stack))
            wait = None if explain else Wait.minutes(tools.clock, minutes)
            return inspect_web(tools.clients, stack, since, wait, tools.clock)
        minutes = api_wait_minutes(ApiTarget.of(stack).release)
        wait = None if explain else Wait.minutes(tools.clock, minutes)
        return inspect_api(tools.clients, stack, since, wait, tools.clock)
    except ReleaseError as error:
        problem = str(error)
    except (ClientError, BotoCoreError) as error:
        problem = aws_failure(error)
    return Outcome(tier=tier, state=State.UNKNOWN, line=f"{tier} release not inspected: {problem}")


def _write_summary(tools: Tools, text: str) -> None:
    if tools.summary_path is None:
        print(text)
        return
    with tools.summary_path.open("a", encoding="utf-8") as handle:
        handle.write(text)
