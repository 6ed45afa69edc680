"""The API tier's release: the CodeDeploy deployment that moved (or failed to move) the
function's alias, waited for until it ends, and the alias checked against the version the stack
deployed.

Fields relied on (CodeDeploy ListDeployments / GetDeployment): ``deploymentId``, ``status``,
``creator``, ``createTime``, ``startTime``, ``completeTime``, ``errorInformation.{code,message}``,
``rollbackInfo.rollbackMessage``, ``revision.appSpecContent.content``; Lambda GetAlias:
``FunctionVersion``, ``RoutingConfig.AdditionalVersionWeights``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from release.aws import (
    Clients,
    Clock,
    StackInfo,
    Wait,
    alarm_phrase,
    alarms_that_went_off,
    aware,
    minutes_between,
    pages,
)
from release.contract import (
    FUNCTION_NAME_OUTPUT,
    FUNCTION_VERSION_OUTPUT,
    ApiRelease,
)
from release.outcome import Outcome, State, api_step_minutes, api_strategy, bake_text

ENDED = frozenset({"Succeeded", "Failed", "Stopped"})
ROLLBACK_CREATORS = frozenset({"codeDeployRollback", "CloudFormationRollback"})
"""Deployments that move the alias back after a failed one: not releases of their own."""
BEFORE_ALLOW_TRAFFIC = "BeforeAllowTraffic"


@dataclass(frozen=True)
class ApiTarget:
    """The API stack's release contract and the function and version it deployed."""

    release: ApiRelease
    function: str
    version: str

    @classmethod
    def of(cls, stack: StackInfo) -> ApiTarget:
        return cls(
            stack.release(ApiRelease.from_json),
            stack.output(FUNCTION_NAME_OUTPUT),
            stack.output(FUNCTION_VERSION_OUTPUT),
        )


def inspect_api(
    clients: Clients, stack: StackInfo, since: datetime, wait: Wait | None, clock: Clock
) -> Outcome:
    """The newest release deployment of the group since ``since``, waited for (verify) or
    looked at once (explain), and the alias."""
    target = ApiTarget.of(stack)
    release = target.release
    base = Outcome(
        tier="api",
        state=State.IN_PROGRESS,
        line="",
        strategy=api_strategy(release),
        alarms=release.alarms,
        bake=bake_text(api_step_minutes(release), None),
    )
    deployments = release_deployments(clients.codedeploy, release, since)
    alias = alias_version(clients.lambda_, target.function, release.alias)
    if not deployments:
        if alias == target.version:
            return replace(
                base,
                state=State.UNCHANGED,
                line=f"api: unchanged (alias {release.alias} on version {alias})",
                shifted=f"version {alias} (unchanged)",
                record=alias,
            )
        return replace(
            base,
            state=State.FAILED,
            line=f"api release did not happen: alias {release.alias} is on version {alias}, "
            f"the stack deployed version {target.version}, and CodeDeploy has no deployment "
            "since the stack update",
        )
    deployment = deployments[0]
    while wait is not None and deployment.get("status") not in ENDED and wait.again():
        deployment = get_deployment(clients.codedeploy, deployment["deploymentId"])
    status, now = str(deployment.get("status")), clock.now()
    before, after = appspec_versions(deployment)
    measured = minutes_between(
        deployment.get("startTime") or deployment.get("createTime"),
        deployment.get("completeTime") or now,
    )
    base = replace(
        base,
        shifted=f"version {before or '?'} -> {after or target.version}",
        bake=bake_text(api_step_minutes(release), measured),
    )
    identifier = deployment["deploymentId"]
    if status == "Succeeded":
        alias = alias_version(clients.lambda_, target.function, release.alias)
        if alias != target.version:
            return replace(
                base,
                state=State.FAILED,
                line=f"api release {identifier} succeeded but alias {release.alias} is on "
                f"version {alias}, not the stack's version {target.version}",
            )
        line = f"api: shifted ({base.shifted})"
        return replace(base, state=State.SHIFTED, line=line, record=alias)
    base = replace(base, shifted=f"attempted: {base.shifted}")
    if status not in ENDED:
        waited = "" if wait is None else " when verify stopped waiting"
        return replace(base, line=f"api release {identifier} still {status}{waited}")
    return replace(
        base,
        state=State.ROLLED_BACK,
        line=failure_line(clients, release, deployment, now),
    )


def failure_line(
    clients: Clients, release: ApiRelease, deployment: dict[str, Any], now: datetime
) -> str:
    """``api release rolled back: alarm X went to ALARM at 12:03:10Z (CodeDeploy d-1 Stopped:
    ALARM_ACTIVE)``, or the hook that failed, or CodeDeploy's reason."""
    error = deployment.get("errorInformation") or {}
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    identifier, status = deployment["deploymentId"], deployment["status"]
    where = f"CodeDeploy {identifier} {status}" + (f": {code}" if code else "")
    if code == "HOOK_EXECUTION_FAILURE":
        hook = appspec_hook(deployment) or "the pre-traffic hook"
        return f"api release rolled back: the pre-traffic hook {hook} failed: {message} ({where})"
    start = aware(deployment.get("startTime") or deployment.get("createTime") or now)
    end = aware(deployment.get("completeTime") or now)
    went_off = alarms_that_went_off(clients.cloudwatch, release.alarms, start, end)
    named = [name for name in release.alarms if name in message]
    alarms = alarm_phrase(went_off, named)
    if alarms:
        return f"api release rolled back: {alarms} ({where})"
    if code == "ALARM_ACTIVE":
        watched = ", ".join(release.alarms) or "none configured"
        return f"api release rolled back: an alarm went off (watched: {watched}) ({where})"
    reason = message or (deployment.get("rollbackInfo") or {}).get("rollbackMessage") or ""
    return f"api release rolled back: {reason or 'no reason given'} ({where})"


def release_deployments(codedeploy: Any, release: ApiRelease, since: datetime) -> list[Any]:
    """The group's deployments created since ``since`` that release a version (not the
    rollbacks CodeDeploy or CloudFormation made), newest first."""
    identifiers = pages(
        codedeploy.list_deployments,
        "deployments",
        applicationName=release.application,
        deploymentGroupName=release.deployment_group,
        createTimeRange={"start": since},
    )
    found = [get_deployment(codedeploy, identifier) for identifier in identifiers]
    releases = [item for item in found if item.get("creator") not in ROLLBACK_CREATORS]
    return sorted(releases, key=lambda item: aware(item["createTime"]), reverse=True)


def get_deployment(codedeploy: Any, identifier: str) -> dict[str, Any]:
    return dict(codedeploy.get_deployment(deploymentId=identifier)["deploymentInfo"])


def alias_version(lambda_: Any, function: str, alias: str) -> str:
    """The version the alias sends all traffic to; ``A+B`` while it splits traffic."""
    answer = lambda_.get_alias(FunctionName=function, Name=alias)
    weights = (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return "+".join([str(answer["FunctionVersion"]), *sorted(weights)])


# --- AppSpec ------------------------------------------------------------------------------------


def appspec(deployment: dict[str, Any]) -> dict[str, Any]:
    """The deployment's AppSpec (JSON, or YAML when PyYAML is there), or {}."""
    content = ((deployment.get("revision") or {}).get("appSpecContent") or {}).get("content")
    if not content:
        return {}
    try:
        parsed = json.loads(content)
    except ValueError:
        try:
            import yaml

            parsed = yaml.safe_load(content)
        except Exception:  # not YAML either, or no PyYAML: nothing to read
            return {}
    return parsed if isinstance(parsed, dict) else {}


def appspec_versions(deployment: dict[str, Any]) -> tuple[str | None, str | None]:
    """``CurrentVersion`` and ``TargetVersion`` of the AppSpec's function."""
    for resource in appspec(deployment).get("Resources") or []:
        for body in (resource or {}).values():
            properties = (body or {}).get("Properties") or {}
            current, target = properties.get("CurrentVersion"), properties.get("TargetVersion")
            return (
                None if current is None else str(current),
                None if target is None else str(target),
            )
    return None, None


def appspec_hook(deployment: dict[str, Any]) -> str | None:
    """The AppSpec's BeforeAllowTraffic function, if any."""
    for hook in appspec(deployment).get("Hooks") or []:
        if isinstance(hook, dict) and BEFORE_ALLOW_TRAFFIC in hook:
            return str(hook[BEFORE_ALLOW_TRAFFIC])
    return None


def alias_appspec(*, function: str, alias: str, current: str, target: str, hook: str | None) -> str:
    """An AppSpec moving ``alias`` of ``function`` from ``current`` to ``target``."""
    spec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                "ApiFunction": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": function,
                        "Alias": alias,
                        "CurrentVersion": current,
                        "TargetVersion": target,
                    },
                }
            }
        ],
    }
    if hook:
        spec["Hooks"] = [{BEFORE_ALLOW_TRAFFIC: hook}]
    return json.dumps(spec, sort_keys=True)
