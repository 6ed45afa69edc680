"""The web tier's release on ECS: the service's newest service deployment, waited for until it
ends, and what it ended as (SST issue 5922: CloudFormation may report success after ECS rolled
back, so the deployment itself is asked).

Fields relied on (ECS ListServiceDeployments / DescribeServiceDeployments /
DescribeServiceRevisions): ``status``, ``statusReason``, ``createdAt``, ``startedAt``,
``finishedAt``, ``stoppedAt``, ``alarms.triggeredAlarmNames``, ``deploymentCircuitBreaker``,
``rollback.reason``, ``targetServiceRevision.arn``, ``sourceServiceRevisions[].arn``, and of a
revision ``taskDefinition`` and ``containerImages[].{containerName,image}``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from release.aws import (
    Clients,
    Clock,
    ReleaseError,
    StackInfo,
    Wait,
    alarm_phrase,
    alarms_that_went_off,
    aware,
    minutes_between,
    pages,
)
from release.contract import EC2, SERVICE_ID_OUTPUT, STATIC_SITE, WebRelease, watches_ecs
from release.outcome import Outcome, State, bake_text, web_strategy

WEB_CONTAINER = "web"
"""The task definition's web container (``fargate_task.CONTAINER_NAME``; a test keeps them
equal): its image is what the record holds."""
SUCCESSFUL = "SUCCESSFUL"
ENDED = frozenset({SUCCESSFUL, "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"})
WENT_WRONG = frozenset(
    {"STOPPED", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"}
    | {"ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"}
)


def web_release(stack: StackInfo) -> WebRelease:
    return stack.release(WebRelease.from_json)


def inspect_web(
    clients: Clients, stack: StackInfo, since: datetime, wait: Wait | None, clock: Clock
) -> Outcome:
    """verify (``wait``): the newest service deployment, waited for until it ends; explain
    (``wait`` None): the newest deployment since ``since`` that went wrong, else the newest."""
    release = web_release(stack)
    base = Outcome(
        tier="web",
        state=State.IN_PROGRESS,
        line="",
        strategy=web_strategy(release),
        alarms=release.alarms,
        bake=bake_text(release.bake_minutes, None),
    )
    if release.runtime == STATIC_SITE:
        line = "web: the stack update uploaded the site and invalidated CloudFront's cache"
        return replace(base, state=State.BY_STACK, line=line)
    if release.runtime == EC2:
        # CloudFormation's instance refresh, watching the release alarms, ran within the stack
        # update: a failed one failed the update, which CloudFormation rolled back.
        line = "web: the stack update's instance refresh replaced the instances"
        return replace(base, state=State.BY_STACK, line=line)
    if not watches_ecs(release.runtime):
        return replace(
            base,
            state=State.EXTERNAL,
            line="web: rolled by App Runner (the workflow's App Runner step checks it)",
        )
    service_arn = stack.output(SERVICE_ID_OUTPUT)
    briefs = _newest_first(clients.ecs, service_arn)
    recent = [brief for brief in briefs if aware(_created(brief)) >= since]
    if not recent:
        current = _running_image(clients.ecs, briefs[0]) if briefs else None
        return replace(
            base,
            state=State.UNCHANGED,
            line="web: unchanged (no service deployment since the stack update)",
            shifted="no new task definition",
            record=current,
        )
    chosen = recent[0]
    if wait is None:
        chosen = next((b for b in recent if b.get("status") in WENT_WRONG), chosen)
    deployment = _describe(clients.ecs, chosen["serviceDeploymentArn"])
    while wait is not None and deployment.get("status") not in ENDED and wait.again():
        deployment = _describe(clients.ecs, chosen["serviceDeploymentArn"])
    status, now = str(deployment.get("status")), clock.now()
    measured = minutes_between(
        deployment.get("startedAt") or deployment.get("createdAt"),
        deployment.get("finishedAt") or deployment.get("stoppedAt") or now,
    )
    bake = bake_text(release.bake_minutes, measured)
    shifted, current = _shift(clients.ecs, deployment)
    if status == SUCCESSFUL:
        return replace(
            base,
            state=State.SHIFTED,
            line=f"web: shifted ({shifted})",
            shifted=shifted,
            bake=bake,
            record=current,
        )
    shifted = f"attempted: {shifted}"
    if status not in WENT_WRONG:
        waited = "" if wait is None else " when verify stopped waiting"
        return replace(
            base,
            state=State.IN_PROGRESS,
            line=f"web release still {status}{waited} ({deployment['serviceDeploymentArn']})",
            shifted=shifted,
            bake=bake,
        )
    return replace(
        base,
        state=State.ROLLED_BACK if status.startswith("ROLLBACK") else State.FAILED,
        line=_went_wrong_line(clients, release, deployment, now),
        shifted=shifted,
        bake=bake,
    )


def _went_wrong_line(
    clients: Clients, release: WebRelease, deployment: dict[str, Any], now: datetime
) -> str:
    status = str(deployment["status"])
    verb = {
        "ROLLBACK_FAILED": "failed and its rollback failed",
        "STOPPED": "was stopped",
        "STOP_REQUESTED": "is being stopped",
    }.get(status, "rolled back")
    named = tuple(deployment.get("alarms", {}).get("triggeredAlarmNames", []))
    start = deployment.get("startedAt") or deployment.get("createdAt") or now
    end = deployment.get("finishedAt") or deployment.get("stoppedAt") or now
    watched = named or release.alarms
    went_off = alarms_that_went_off(clients.cloudwatch, watched, aware(start), aware(end))
    causes = [alarm_phrase(went_off, named)]
    if not causes[0] and deployment.get("alarms", {}).get("status") == "TRIGGERED":
        causes[0] = f"a release alarm went off (watched: {', '.join(release.alarms)})"
    breaker = deployment.get("deploymentCircuitBreaker", {})
    if breaker.get("status") == "TRIGGERED":
        causes.append(
            f"the circuit breaker tripped after {breaker.get('failureCount', '?')} failed tasks"
        )
    reason = (deployment.get("rollback") or {}).get("reason") or deployment.get("statusReason")
    text = ", ".join(cause for cause in causes if cause) or "no alarm went off"
    suffix = f" ({reason})" if reason else ""
    return f"web release {verb}: {text}{suffix}"


def _newest_first(ecs: Any, service_arn: str) -> list[dict[str, Any]]:
    cluster = _cluster_of(service_arn)
    briefs = list(
        pages(
            ecs.list_service_deployments,
            "serviceDeployments",
            cluster=cluster,
            service=service_arn,
        )
    )
    return sorted(briefs, key=lambda brief: aware(_created(brief)), reverse=True)


def _created(brief: dict[str, Any]) -> datetime:
    moment = brief.get("createdAt") or brief.get("startedAt")
    if moment is None:
        raise ReleaseError(f"service deployment {brief.get('serviceDeploymentArn')} has no time")
    return moment  # type: ignore[no-any-return]


def _cluster_of(service_arn: str) -> str:
    """``arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`` -> ``CLUSTER``."""
    parts = service_arn.split(":", 5)[-1].split("/")
    if len(parts) != 3 or parts[0] != "service":
        raise ReleaseError(f"ServiceId {service_arn} is not an ECS service ARN")
    return parts[1]


def _describe(ecs: Any, arn: str) -> dict[str, Any]:
    answer = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    found = answer.get("serviceDeployments", [])
    if not found:
        raise ReleaseError(f"ECS does not describe service deployment {arn}")
    return dict(found[0])


def _revisions(ecs: Any, arns: list[str]) -> dict[str, dict[str, Any]]:
    if not arns:
        return {}
    answer = ecs.describe_service_revisions(serviceRevisionArns=arns[:20])
    return {item["serviceRevisionArn"]: item for item in answer.get("serviceRevisions", [])}


def _image(revision: dict[str, Any] | None) -> str | None:
    for container in (revision or {}).get("containerImages", []):
        if container.get("containerName") == WEB_CONTAINER:
            return str(container["image"])
    return None


def _task_definition(revision: dict[str, Any] | None) -> str:
    """``family:revision`` of a revision's task definition ARN."""
    arn = str((revision or {}).get("taskDefinition", "?"))
    return arn.rsplit("/", 1)[-1]


def _short(image: str | None) -> str:
    """An image without its registry: ``three-tier/prod/web:abc123``."""
    return "?" if image is None else image.split("/", 1)[-1]


def _shift(ecs: Any, deployment: dict[str, Any]) -> tuple[str, str | None]:
    """``task definition A -> B, image X -> Y`` and the target's web image."""
    target_arn = (deployment.get("targetServiceRevision") or {}).get("arn")
    source_arns = [source["arn"] for source in deployment.get("sourceServiceRevisions", [])]
    revisions = _revisions(ecs, [arn for arn in (target_arn, *source_arns) if arn])
    target = revisions.get(target_arn) if target_arn else None
    sources = [revisions.get(arn) for arn in source_arns]
    before_defs = ", ".join(_task_definition(s) for s in sources) or "none"
    before_images = ", ".join(_short(_image(s)) for s in sources) or "none"
    image = _image(target)
    text = (
        f"task definition {before_defs} -> {_task_definition(target)}, "
        f"image {before_images} -> {_short(image)}"
    )
    return text, image


def _running_image(ecs: Any, newest: dict[str, Any]) -> str | None:
    """The web image of the newest deployment's target, if that deployment succeeded (what
    runs now, when this deploy changed nothing)."""
    if newest.get("status") != SUCCESSFUL or not newest.get("targetServiceRevisionArn"):
        return None
    arn = str(newest["targetServiceRevisionArn"])
    return _image(_revisions(ecs, [arn]).get(arn))
