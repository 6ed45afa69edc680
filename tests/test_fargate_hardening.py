"""The web task runs locked down (issue 15, point 2): a numeric non-root user, a read-only root
filesystem with one writable task volume, a hard memory limit, no Linux capability; the
placeholder is nginx built to run unprivileged, and the reference app's image runs as the uid
the task definition names. (Fargate takes no noNewPrivileges: cdk_constructs/web_runtime/image.py.)
"""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from typing import Any

import pytest

from cdk_constructs.web_runtime.fargate import CONTAINER_NAME
from cdk_constructs.web_runtime.image import (
    APP_UID,
    APP_USER,
    PLACEHOLDER_IMAGE,
    PLACEHOLDER_USER,
    SCRATCH_INIT,
    SCRATCH_PATH,
    placeholder_command,
)
from stacks.config import APP_CONFIG
from tests.synth import REPO_ROOT, Tier, synth_variant
from tests.template_queries import only
from tests.web_variants import IMAGE_TAG

DOCKERFILE = REPO_ROOT / "web_app" / "Dockerfile"
DEV = APP_CONFIG.environment("dev")
EXPECTED_USER = {"placeholder": PLACEHOLDER_USER, "image": APP_USER}


@pytest.fixture(scope="module")
def tasks() -> dict[str, dict[str, Any]]:
    """The web task definition of dev as shipped (placeholder) and with an image tag."""
    configs = {
        "placeholder": DEV,
        "image": replace(DEV, web=replace(DEV.web, image_tag=IMAGE_TAG)),
    }
    assert DEV.web.image_tag is None
    return {
        name: only(synth_variant(config, Tier.WEB), "AWS::ECS::TaskDefinition")[1]["Properties"]
        for name, config in configs.items()
    }


def containers(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {container["Name"]: container for container in task["ContainerDefinitions"]}


@pytest.mark.parametrize("variant", ["placeholder", "image"])
def test_the_web_container_is_locked_down(variant: str, tasks: dict[str, dict[str, Any]]) -> None:
    task = tasks[variant]
    web = containers(task)[CONTAINER_NAME]
    assert web["ReadonlyRootFilesystem"] is True
    assert web["User"] == EXPECTED_USER[variant]
    uid, gid = web["User"].split(":")
    assert uid.isdigit()
    assert gid.isdigit()
    assert int(uid) != 0
    assert int(gid) != 0
    assert web["Memory"] == int(task["Memory"])  # the hard limit, not a reservation
    assert "MemoryReservation" not in web
    linux = web["LinuxParameters"]
    assert linux["Capabilities"] == {"Drop": ["ALL"]}
    assert linux["InitProcessEnabled"] is True
    assert "Privileged" not in web
    assert "DockerSecurityOptions" not in web


@pytest.mark.parametrize("variant", ["placeholder", "image"])
def test_the_only_writable_path_is_the_scratch_task_volume(
    variant: str, tasks: dict[str, dict[str, Any]]
) -> None:
    task = tasks[variant]
    volumes = {volume["Name"]: volume for volume in task["Volumes"]}
    for container in containers(task).values():
        assert container["ReadonlyRootFilesystem"] is True, container["Name"]
        assert "VolumesFrom" not in container
        mounts = container["MountPoints"]
        assert [(mount["ContainerPath"], mount["ReadOnly"]) for mount in mounts] == [
            (SCRATCH_PATH, False)
        ]
        (mount,) = mounts
        # A bind mount on the task's ephemeral storage: no host path, no EFS, no Docker volume.
        assert volumes[mount["SourceVolume"]] == {"Name": mount["SourceVolume"]}


def test_the_placeholder_is_unprivileged_nginx_writing_only_under_tmp(
    tasks: dict[str, dict[str, Any]],
) -> None:
    web = containers(tasks["placeholder"])[CONTAINER_NAME]
    assert web["Image"] == PLACEHOLDER_IMAGE
    assert PLACEHOLDER_IMAGE.startswith("public.ecr.aws/nginx/nginx-unprivileged:")
    shell, flag, script = web["Command"]
    assert (shell, flag) == ("/bin/sh", "-c")
    words = shlex.split(script)
    config = words[1]  # echo CONFIG > FILE && exec nginx ...
    assert f"listen {DEV.web.container_port};" in config
    assert "return 200 'ok'" in config
    redirected = re.findall(r">\s*(\S+)", script)
    nginx_paths = re.findall(r"(?:pid|_temp_path)\s+(/[^\s;]+)", config)
    nginx_paths.append(words[words.index("nginx") + 2])
    assert redirected == [f"{SCRATCH_PATH}/nginx.conf"]
    assert len(nginx_paths) == 7  # the config, the pid file and the five temp directories
    assert all(path.startswith(f"{SCRATCH_PATH}/") for path in nginx_paths)
    assert "-e stderr" in script  # not the image's log path, before the config is read


def test_the_placeholder_listens_on_any_configured_port() -> None:
    script = placeholder_command(9090)[2]
    assert "listen 9090;" in shlex.split(script)[1]
    assert "8080" not in script


def test_only_the_placeholder_prepares_its_scratch_volume_as_root_and_exits(
    tasks: dict[str, dict[str, Any]],
) -> None:
    placeholder = containers(tasks["placeholder"])
    init = placeholder[SCRATCH_INIT]
    assert init["Essential"] is False
    assert init["Image"] == PLACEHOLDER_IMAGE
    assert init["EntryPoint"] == ["chmod", "1777", SCRATCH_PATH]
    assert init["User"] == "0"  # the bind mount's owner: chmod without any capability
    assert init["LinuxParameters"]["Capabilities"] == {"Drop": ["ALL"]}
    assert placeholder[CONTAINER_NAME]["DependsOn"] == [
        {"Condition": "SUCCESS", "ContainerName": SCRATCH_INIT}
    ]
    # The reference image declares VOLUME /tmp itself (Dockerfile): its task has no root at all.
    assert list(containers(tasks["image"])) == [CONTAINER_NAME]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_the_reference_image_runs_as_the_uid_the_task_names() -> None:
    instructions = dockerfile_instructions()
    users = [value for keyword, value in instructions if keyword == "USER"]
    assert users == [APP_USER]
    assert APP_UID != 0
    run = " ".join(value for keyword, value in instructions if keyword == "RUN")
    assert f"--uid {APP_UID}" in run
    assert f"--gid {APP_UID}" in run
    assert "compileall" in run
    assert "chmod 1777 /tmp" in run
    assert ("VOLUME", f'["{SCRATCH_PATH}"]') in instructions
    env = " ".join(value for keyword, value in instructions if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    # USER last but CMD/EXPOSE: nothing after it runs as root
    keywords = [keyword for keyword, _ in instructions]
    assert set(keywords[keywords.index("USER") + 1 :]) <= {"EXPOSE", "CMD"}


WRITE_CALLS = re.compile(r"\b(?:open\(|write_text|write_bytes|mkdir|makedirs|tempfile|shelve)")


def test_the_reference_app_writes_no_file() -> None:
    """Its root filesystem is read-only: sessions live in DynamoDB, logs go to stdout."""
    sources = sorted((REPO_ROOT / "web_app" / "web_app").glob("*.py"))
    assert len(sources) > 3
    found = [
        f"{path.name}: {line.strip()}"
        for path in sources
        for line in path.read_text().splitlines()
        if WRITE_CALLS.search(line)
    ]
    assert found == []
