"""``make rollback ENV=... TIER=web|api``: return a tier to the release recorded as its
``previous`` (``release.record``), with an operator's credentials.

- web: ``cdk deploy`` of the web stack alone with the previous image's tag, so CloudFormation
  stays the source of truth and the release goes through the same strategy and alarms; then
  verify.
- api: a CodeDeploy deployment moving the alias back at once (the group's last pre-traffic hook
  still runs). CloudFormation's template keeps naming the newer version until the next deploy
  replaces it (drift that the next release ends).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cdk_constructs.options import ApiKind, Image
from release.api import (
    ENDED,
    ApiTarget,
    alias_appspec,
    alias_version,
    appspec_hook,
    failure_line,
    get_deployment,
)
from release.aws import ReleaseError, Wait, aware, pages, read_stack
from release.contract import EC2, STATIC_SITE, watches_ecs
from release.outcome import API_MARGIN_MINUTES
from release.record import Record, parameter_name, read_record, record_release
from release.verify import Tools, explain, verify
from stacks.config import AppConfig, EnvironmentConfig, repository_name

REPO_ROOT = Path(__file__).resolve().parent.parent
WEB_STACK_ID = "Web"
"""The web stack's construct id in the environment's stage (``PlatformStack``: the tier's
title; a test keeps them equal): ``cdk deploy --exclusively ENV/Web``."""
ALL_AT_ONCE = "CodeDeployDefault.LambdaAllAtOnce"
IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"

Runner = Callable[[Sequence[str]], int]
"""Runs a command line from the repository root; its exit code."""


def run_command(argv: Sequence[str]) -> int:
    try:
        # S603: fixed argv (npx cdk ...) whose one variable, the tag, matched IMAGE_TAG.
        return subprocess.run(list(argv), cwd=REPO_ROOT, check=False).returncode  # noqa: S603
    except FileNotFoundError:
        print(f"{argv[0]} is not installed (make setup)", file=sys.stderr)
        return 127


def web_rollback_command(env_name: str, tag: str) -> list[str]:
    return [
        "npx",
        "--no-install",
        "cdk",
        "deploy",
        "--context",
        f"env={env_name}",
        "--context",
        f"web_image_tag={tag}",
        "--exclusively",
        f"{env_name}/{WEB_STACK_ID}",
        "--require-approval",
        "never",
    ]


def previous(tools: Tools, app: AppConfig, env: EnvironmentConfig, tier: str) -> Record:
    name = parameter_name(app.app_name, env.name, tier)
    record = read_record(tools.clients.ssm, name)
    if record is None or record.previous is None:
        raise ReleaseError(
            f"no previous {tier} release recorded in {name}: nothing to roll back to "
            "(verify records a release after it succeeds)"
        )
    return record


def image_tag(app: AppConfig, env: EnvironmentConfig, image: str) -> str:
    """The tag of ``image`` if it is a tagged image of the environment's web repository."""
    repository = repository_name(app, env, Image.WEB)
    registry = rf"{re.escape(env.account)}\.dkr\.ecr\.{re.escape(env.region)}\.amazonaws\.com"
    match = re.fullmatch(
        rf"{registry}(?:\.cn)?/{re.escape(repository)}:(?P<tag>{IMAGE_TAG})", image
    )
    if match is None:
        raise ReleaseError(
            f"the previous web image {image} is not a tagged image of {repository} in "
            f"{env.account}/{env.region}: roll back by deploying a tag instead"
        )
    return match.group("tag")


def rollback_web(
    app: AppConfig, env: EnvironmentConfig, tools: Tools, runner: Runner = run_command
) -> int:
    if env.web.runtime == STATIC_SITE:
        raise ReleaseError(
            f"{env.name}'s web is a static site: deploy the previous commit (its files are "
            "part of the stack)"
        )
    if env.web.runtime == EC2:
        raise ReleaseError(
            f"{env.name}'s web runs on ec2, whose releases are not recorded: deploy the previous "
            "tag with 'cdk deploy -c web_image_tag=TAG' (an instance refresh rolls it out)"
        )
    if not watches_ecs(env.web.runtime):
        raise ReleaseError(
            f"{env.name}'s web runs on {env.web.runtime}: deploy the previous tag with "
            "'cdk deploy -c web_image_tag=TAG' and start an App Runner deployment"
        )
    record = previous(tools, app, env, "web")
    assert record.previous is not None  # previous() refuses a record without one
    argv = web_rollback_command(env.name, image_tag(app, env, record.previous))
    print(f"web: back to {record.previous} through CloudFormation: {' '.join(argv)}")
    if runner(argv) != 0:
        explain(app, env, tools)
        return 1
    return verify(app, env, tools, tiers=("web",))


def rollback_api(app: AppConfig, env: EnvironmentConfig, tools: Tools) -> int:
    if env.api.kind is ApiKind.PUBLIC_SERVICES:
        raise ReleaseError(
            f"{env.name}'s API is its microservices: deploy the previous commit's images with "
            "'cdk deploy -c services_image_tag=TAG'"
        )
    clients = tools.clients
    target = ApiTarget.of(read_stack(clients, app, env, "api"))
    release = target.release
    record = previous(tools, app, env, "api")
    back_to = str(record.previous)
    current = alias_version(clients.lambda_, target.function, release.alias)
    if "+" in current:
        raise ReleaseError(
            f"alias {release.alias} is shifting traffic ({current}): let that release end first"
        )
    if current == back_to:
        print(f"api: alias {release.alias} is on version {back_to} already")
        return 0
    last = last_deployment(clients.codedeploy, release.application, release.deployment_group)
    content = alias_appspec(
        function=target.function,
        alias=release.alias,
        current=current,
        target=back_to,
        hook=appspec_hook(last),
    )
    identifier = clients.codedeploy.create_deployment(
        applicationName=release.application,
        deploymentGroupName=release.deployment_group,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": content}},
        deploymentConfigName=ALL_AT_ONCE,
        description=f"make rollback: {release.alias} from version {current} to {back_to}",
        # The alarms are likely in ALARM because of the release being left: watching them
        # would stop the way back.
        overrideAlarmConfiguration={"enabled": False, "alarms": []},
    )["deploymentId"]
    print(f"api: CodeDeploy {identifier} moves {release.alias} from {current} to {back_to}")
    deployment = get_deployment(clients.codedeploy, identifier)
    wait = Wait.minutes(tools.clock, API_MARGIN_MINUTES)
    while deployment.get("status") not in ENDED and wait.again():
        deployment = get_deployment(clients.codedeploy, identifier)
    if deployment.get("status") != "Succeeded":
        if deployment.get("status") not in ENDED:
            print(f"api rollback {identifier} still {deployment.get('status')}", file=sys.stderr)
        else:
            line = failure_line(clients, release, deployment, tools.clock.now())
            print(f"api rollback failed: {line.split(': ', 1)[1]}", file=sys.stderr)
        return 1
    name = parameter_name(app.app_name, env.name, "api")
    record_release(clients.ssm, name, back_to, tools.clock.now())
    print(f"api: alias {release.alias} on version {back_to}; recorded in {name}")
    return 0


def last_deployment(codedeploy: Any, application: str, group: str) -> dict[str, Any]:
    """The group's newest deployment (its AppSpec names the pre-traffic hook), or {}."""
    identifiers = list(
        pages(
            codedeploy.list_deployments,
            "deployments",
            applicationName=application,
            deploymentGroupName=group,
        )
    )
    found: list[dict[str, Any]] = []
    for start in range(0, len(identifiers), 25):
        answer = codedeploy.batch_get_deployments(deploymentIds=identifiers[start : start + 25])
        found += answer.get("deploymentsInfo", [])
    return max(found, key=lambda item: aware(item["createTime"]), default={})
