"""What the GitHub workflows and ``make bootstrap`` need to know from config, as plain lines.

Pure Python (no CDK import), so a workflow job can ask it before installing anything:

- ``python -m stacks.delivery environment-for-branch BRANCH``: ``environment=<name>`` (empty when
  the branch deploys nothing), for ``$GITHUB_OUTPUT``;
- ``python -m stacks.delivery plan ENV``: the environment's deploy plan as ``key=value`` lines;
- ``python -m stacks.delivery bootstrap-target ENV``: ``aws://ACCOUNT/REGION``;
- ``python -m stacks.delivery oidc-stage ENV``: the stage holding the account's OIDC stack;
- ``python -m stacks.delivery web-outputs ENV FILE``: ``public_url``, ``health_url`` and
  ``service_id`` of the web stack, from ``cdk deploy --outputs-file FILE``.
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
    ConfigError,
    EnvironmentConfig,
    check_deployable,
    repository_name,
    stack_name,
    validate_app_config,
)

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
    return plan


def web_outputs(config: AppConfig, env: EnvironmentConfig, outputs_file: Path) -> dict[str, str]:
    """The web stack's outputs the workflow's smoke test and App Runner step need."""
    outputs = json.loads(outputs_file.read_text())[stack_name(config, env, "web")]
    public_url = str(outputs["PublicUrl"])
    return {
        "public_url": public_url,
        "health_url": f"{public_url}{env.web.health_path}",
        "service_id": str(outputs["ServiceId"]),
    }


def main(argv: Sequence[str], config: AppConfig = APP_CONFIG) -> int:
    usage = (
        "usage: python -m stacks.delivery environment-for-branch BRANCH | plan ENV | "
        "bootstrap-target ENV | oidc-stage ENV | web-outputs ENV FILE"
    )
    try:
        match list(argv):
            case ["environment-for-branch", branch]:
                validate_app_config(config)
                env = config.environment_for_branch(branch)
                print(f"environment={env.name if env else ''}")
            case ["plan", env_name]:
                env = check_deployable(config, env_name)
                for key, value in deploy_plan(config, env).items():
                    print(f"{key}={value}")
            case ["bootstrap-target", env_name]:
                env = check_deployable(config, env_name)
                print(f"aws://{env.account}/{env.region}")
            case ["oidc-stage", env_name]:
                env = check_deployable(config, env_name)
                print(oidc_stage_id(env.account))
            case ["web-outputs", env_name, outputs_file]:
                env = config.environment(env_name)
                for key, value in web_outputs(config, env, Path(outputs_file)).items():
                    print(f"{key}={value}")
            case _:
                print(usage, file=sys.stderr)
                return 2
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
