"""``python -m operator_access db-tunnel ENV [readonly|admin]`` and ``... shell ENV``
(``make db-tunnel``, ``make shell``).

A bad command, environment, role or runtime: one line, exit 2; a missing program, stack or
output, an AWS error, a session that fails: one line, exit 1; never a traceback. Ctrl-C closes
an open tunnel and exits 0 (before it is open: exit 130).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from operator_access import db_tunnel, shell
from operator_access.common import AccessError, Clients, Clock, ReleaseError, UsageError
from release.aws import aws_failure
from stacks.config import APP_CONFIG, AppConfig, ConfigError, EnvironmentConfig

USAGE = "usage: python -m operator_access db-tunnel ENV [readonly|admin] | shell ENV"


def main(
    argv: Sequence[str],
    config: AppConfig = APP_CONFIG,
    clients: Callable[[EnvironmentConfig], Clients] = Clients.for_environment,
    clock: Clock | None = None,
    keys: db_tunnel.Keys | None = None,
    open_session: Callable[[list[str]], int] = shell.open_session,
) -> int:
    """``keys`` (Enter re-mints the token) is the terminal unless a test hands in its own;
    ``open_session`` runs the shell's CLI command."""
    clock = clock or Clock()
    command, *rest = list(argv) or [""]
    name = command if command in ("db-tunnel", "shell") else "operator_access"
    try:
        if command == "db-tunnel":
            env_name, role = db_tunnel.parse(rest)
            env = config.environment(env_name)
            db_tunnel.check_config(env)
            db_tunnel.run(
                env, role, clients(env), config, clock,
                keys or db_tunnel.TerminalKeys(sys.stdin, clock), db_tunnel.say_line,
            )  # fmt: skip
            return 0
        if command == "shell":
            env = config.environment(shell.parse(rest))
            shell.check_config(env)
            return open_session(shell.session_argv(env, clients(env), config, shell.say_line))
        raise UsageError(USAGE)
    except (ConfigError, UsageError) as error:
        print(f"{name}: {error}", file=sys.stderr)
        return 2
    except (AccessError, ReleaseError) as error:
        print(f"{name}: {error}", file=sys.stderr)
    except (ClientError, BotoCoreError) as error:
        print(f"{name}: {aws_failure(error)}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
