"""What the GitHub workflows and ``make bootstrap`` need to know from config, as plain lines.

- ``python -m stacks.delivery environment-for-branch BRANCH``: ``environment=<name>`` (empty when
  the branch deploys nothing), for ``$GITHUB_OUTPUT``;
- ``python -m stacks.delivery plan ENV``: the environment's deploy plan as ``key=value`` lines;
- ``python -m stacks.delivery bootstrap-target ENV``: ``aws://ACCOUNT/REGION`` (and
  ``aws://ACCOUNT/us-east-1`` after it when the environment has a web edge stack there);
- ``python -m stacks.delivery oidc-stage ENV``: the stage holding the account's OIDC stack;
- ``python -m stacks.delivery web-outputs ENV FILE``: ``public_url``, ``health_url``,
  ``service_id`` and ``rollout`` (how the workflow rolls a new image out) of the web stack,
  from ``cdk deploy --outputs-file FILE``, for ``$GITHUB_ENV``.

It imports no CDK code: a workflow job asks it after installing only the config's own
requirements (``requirements-config.txt``: Pydantic).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cdk_constructs.options import CpuArchitecture, Image
from stacks.config import (
    APP_CONFIG,
    AppConfig,
    EnvironmentConfig,
    check_deployable,
    repository_name,
    runtime_spec,
    service_repository_name,
    stack_name,
    validate_app_config,
)
from stacks.config.errors import exit_code

REPO_ROOT = Path(__file__).resolve().parent.parent
API_ARCHITECTURE = CpuArchitecture.ARM64
"""The API function runs on Graviton (arm64), from its zip or its image."""


def oidc_stage_id(account: str) -> str:
    """The stage (``cdk deploy 'github-<account>/*'``) holding an account's OIDC stack."""
    return f"github-{account}"


def image_platform(env: EnvironmentConfig, image: Image) -> str:
    """What the deploy workflow builds an image for: the web image for the architecture its
    service runs on (``WebConfig.cpu_architecture``: linux/amd64 on Fargate Spot and App
    Runner, linux/arm64 on Fargate), the API image for the function's arm64."""
    architecture = env.web.cpu_architecture if image is Image.WEB else API_ARCHITECTURE
    return architecture.docker_platform


def image_source(config: AppConfig, image: Image, root: Path = REPO_ROOT) -> str:
    """The configured source folder of an image if this checkout has its Dockerfile, else ""."""
    source = config.github.image_sources.get(image)
    if source is None or not (root / source / "Dockerfile").is_file():
        return ""
    return source


def deploy_plan(
    config: AppConfig, env: EnvironmentConfig, root: Path = REPO_ROOT
) -> dict[str, str]:
    """Everything the deploy job reads from config, by output name."""
    plan = {
        "environment": env.name,
        "account": env.account,
        "region": env.region,
        "runtime": str(env.web.runtime),
        "role_session_seconds": str(config.github.deploy_session_hours * 3600),
    }
    for image in Image:
        plan[f"{image}_source"] = image_source(config, image, root)
        plan[f"{image}_platform"] = image_platform(env, image)
        plan[f"{image}_repository"] = repository_name(config, env, image)
    # Microservices (api.services): "source:repository" pairs, built from the repository root
    # with <source>/Dockerfile for linux/arm64 (their tasks run on Graviton).
    plan["services"] = " ".join(
        f"{service.source}:{service_repository_name(config, env, service.name)}"
        for service in env.api.services
    )
    return plan


def web_outputs(config: AppConfig, env: EnvironmentConfig, outputs_file: Path) -> dict[str, str]:
    """The web stack's outputs the workflow's smoke test and rollout steps need (``rollout``:
    the web stack's ``Rollout`` output, which names the steps a new image needs)."""
    outputs = json.loads(outputs_file.read_text())[stack_name(config, env, "web")]
    public_url = str(outputs["PublicUrl"])
    return {
        "public_url": public_url,
        # A static site has no health path of its own: its page is what must load.
        "health_url": public_url
        + (env.web.health_path if runtime_spec(env.web.runtime).runs_container else "/"),
        "service_id": str(outputs["ServiceId"]),
        "rollout": str(outputs["Rollout"]),
    }


USAGE = (
    "usage: python -m stacks.delivery environment-for-branch BRANCH | plan ENV | "
    "bootstrap-target ENV | oidc-stage ENV | web-outputs ENV FILE"
)


def main(argv: Sequence[str], config: AppConfig = APP_CONFIG) -> int:
    """Each command prints ``key=value`` lines; a bad or undeployable config, its one line on
    stderr and exit 1."""
    return exit_code(lambda: _run(list(argv), config))


def _run(argv: list[str], config: AppConfig) -> int:
    match argv:
        case ["environment-for-branch", branch]:
            validate_app_config(config)
            env = config.environment_for_branch(branch)
            print(f"environment={env.name if env else ''}")
        case ["plan", env_name]:
            env = check_deployable(config, env_name)
            _print(deploy_plan(config, env))
        case ["bootstrap-target", env_name]:
            env = check_deployable(config, env_name)
            # The static site's edge stack (certificate, web ACL) deploys to us-east-1.
            regions = dict.fromkeys(region for region in (env.region, env.edge_region) if region)
            print(" ".join(f"aws://{env.account}/{region}" for region in regions))
        case ["oidc-stage", env_name]:
            env = check_deployable(config, env_name)
            print(oidc_stage_id(env.account))
        case ["web-outputs", env_name, outputs_file]:
            env = config.environment(env_name)
            try:
                outputs = web_outputs(config, env, Path(outputs_file))
            except KeyError as missing:
                print(f"{outputs_file} has no {missing} of {env_name}'s web stack", file=sys.stderr)
                return 1
            _print(outputs)
        case _:
            print(USAGE, file=sys.stderr)
            return 2
    return 0


def _print(values: dict[str, str]) -> None:
    for key, value in values.items():
        print(f"{key}={value}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
