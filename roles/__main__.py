"""``python -m roles ENV grant|revoke USER ROLE | list [USER]`` (``make roles``).

The environment's API stack names the role table and the user pool (outputs ``RoleTableName``,
``UserPoolId``); USER is a Cognito username, email or ``sub``; ROLE one the environment's
``api.route_roles`` names (revoke also takes a role the user still holds that config no longer
names). A bad command, environment, user or role: one line, exit 2; an AWS error or a missing
stack: one line, exit 1; never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from release.aws import Clients as StackClients
from release.aws import ReleaseError, aws_failure, read_stack
from roles.table import RoleTable
from roles.users import UnknownUserError, User, resolve_user
from stacks.config import APP_CONFIG, AppConfig, ConfigError, EnvironmentConfig

USAGE = "usage: python -m roles ENV grant|revoke USER ROLE | ENV list [USER]"
ROLE_TABLE_OUTPUT = "RoleTableName"
USER_POOL_OUTPUT = "UserPoolId"
CLIENT_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
)


class UsageError(Exception):
    """Something the operator typed; ``str()`` is the one line shown (exit 2)."""


@dataclass(frozen=True)
class Clients:
    cloudformation: Any
    cognito: Any
    dynamodb: Any

    @classmethod
    def for_environment(cls, env: EnvironmentConfig) -> Clients:
        session = boto3.Session(region_name=env.region)
        made = {
            name: session.client(name, config=CLIENT_CONFIG)
            for name in ("cloudformation", "cognito-idp", "dynamodb")
        }
        return cls(made["cloudformation"], made["cognito-idp"], made["dynamodb"])


def known_roles(env: EnvironmentConfig) -> tuple[str, ...]:
    """Every role the environment's ``api.route_roles`` names, sorted."""
    return tuple(sorted({role for roles in env.api.route_roles.values() for role in roles}))


def _check_role(role: str, allowed: Sequence[str], held: frozenset[str] = frozenset()) -> None:
    if role not in allowed and role not in held:
        raise UsageError(f"unknown role '{role}': one of {', '.join(allowed)}")


def _locate(clients: Clients, app: AppConfig, env: EnvironmentConfig) -> tuple[RoleTable, str]:
    """The role table and the user pool id, from the API stack's outputs."""
    # read_stack reads only the CloudFormation client of release's Clients.
    stack = read_stack(StackClients(clients.cloudformation, *([None] * 5)), app, env, "api")
    missing = [key for key in (ROLE_TABLE_OUTPUT, USER_POOL_OUTPUT) if key not in stack.outputs]
    if missing:
        raise ReleaseError(
            f"stack {stack.name} has no output {', '.join(missing)} (is api.kind "
            "public_services, and is the stack deployed?)"
        )
    return RoleTable(clients.dynamodb, stack.outputs[ROLE_TABLE_OUTPUT]), stack.outputs[
        USER_POOL_OUTPUT
    ]


def run(
    command: str, user_name: str | None, role: str | None, clients: Clients, app: AppConfig,
    env: EnvironmentConfig,
) -> None:  # fmt: skip
    """One command; UsageError, UnknownUserError, ReleaseError or an AWS error when it fails."""
    allowed = known_roles(env)
    if not allowed:
        raise UsageError(f"environment '{env.name}' names no role (api.route_roles is empty)")
    if command == "grant" and role is not None:
        _check_role(role, allowed)
    table, pool = _locate(clients, app, env)
    if user_name is None:
        holders = list(table.holders())
        print("\n".join(map(str, holders)) if holders else f"no user has a role in {env.name}")
        return
    user: User = resolve_user(clients.cognito, pool, user_name)
    holder = table.holder(user)
    if role is None:
        print(holder)
    elif command == "grant":
        print(f"granted {role}: {table.grant(user, role)}")
    else:
        _check_role(role, allowed, holder.roles)
        if role not in holder.roles:
            print(f"{user} does not hold {role}: {holder}")
            return
        print(f"revoked {role}: {table.revoke(user, role)}")


def main(
    argv: Sequence[str],
    config: AppConfig = APP_CONFIG,
    clients: Callable[[EnvironmentConfig], Clients] = Clients.for_environment,
) -> int:
    user_name: str | None = None
    role: str | None = None
    match list(argv):
        case [env_name, "grant" | "revoke" as command, user_name, role]:
            pass
        case [env_name, "list" as command, *rest] if len(rest) <= 1:
            user_name = rest[0] if rest else None
        case _:
            print(USAGE, file=sys.stderr)
            return 2
    try:
        env = config.environment(env_name)
        run(command, user_name, role, clients(env), config, env)
    except (ConfigError, UsageError, UnknownUserError) as error:
        print(f"roles: {error}", file=sys.stderr)
        return 2
    except ReleaseError as error:
        print(f"roles: {error}", file=sys.stderr)
    except (ClientError, BotoCoreError) as error:
        print(f"roles: {aws_failure(error)}", file=sys.stderr)
    else:
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
