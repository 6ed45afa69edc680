"""``python -m release verify ENV | explain ENV | rollback ENV TIER``.

- verify: after ``cdk deploy`` succeeded; exit 1 when a release did not shift (one line each).
- explain: after ``cdk deploy`` failed; names the tier and alarm that rolled back, exit 0.
- rollback: ``make rollback``; returns a tier to its previous recorded release.

A bad command, environment or tier: one line and exit 2; an AWS error: one line and exit 1;
never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from release.aws import Clients, Clock, ReleaseError, aws_failure
from release.record import TIERS
from release.rollback import Runner, rollback_api, rollback_web, run_command
from release.verify import Tools, explain, verify
from stacks.config import APP_CONFIG, AppConfig, ConfigError, EnvironmentConfig

USAGE = "usage: python -m release verify ENV | explain ENV | rollback ENV web|api"

ToolsFactory = Callable[[EnvironmentConfig], Tools]


def default_tools(env: EnvironmentConfig) -> Tools:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    return Tools(Clients.for_environment(env), Clock(), Path(summary) if summary else None)


def main(
    argv: Sequence[str],
    config: AppConfig = APP_CONFIG,
    tools: ToolsFactory = default_tools,
    runner: Runner = run_command,
) -> int:
    match list(argv):
        case ["verify" | "explain" as command, env_name]:
            tier = None
        case ["rollback" as command, env_name, tier]:
            if tier not in TIERS:
                print(f"unknown tier '{tier}': web or api", file=sys.stderr)
                return 2
        case _:
            print(USAGE, file=sys.stderr)
            return 2
    try:
        env = config.environment(env_name)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        made = tools(env)
        if command == "verify":
            return verify(config, env, made)
        if command == "explain":
            return explain(config, env, made)
        if tier == "web":
            return rollback_web(config, env, made, runner)
        return rollback_api(config, env, made)
    except ReleaseError as error:
        print(f"{tier or command}: {error}", file=sys.stderr)
    except (ClientError, BotoCoreError) as error:
        print(f"{tier or command}: {aws_failure(error)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
