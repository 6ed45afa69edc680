"""``python -m stacks.config check | deployable ENV | readme``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stacks.config.environments import APP_CONFIG
from stacks.config.errors import exit_code
from stacks.config.placeholders import check_deployable
from stacks.config.schema import validate_app_config

USAGE = "usage: python -m stacks.config check | deployable ENV | readme"


def main(argv: Sequence[str]) -> int:
    """``check``: the config is valid (importing it already checked it); ``deployable ENV``:
    ENV can be deployed (no placeholder left); ``readme``: write the README's configuration
    tables from the schema. A bad value: its one line on stderr, exit 1."""
    return exit_code(lambda: _run(list(argv)))


def _run(argv: list[str]) -> int:
    match argv:
        case ["check"]:
            validate_app_config(APP_CONFIG)
        case ["deployable", env_name]:
            check_deployable(APP_CONFIG, env_name)
        case ["readme"]:
            from stacks.config.docs import write_readme_tables  # only this command needs it

            write_readme_tables()
        case _:
            print(USAGE, file=sys.stderr)
            return 2
    return 0
