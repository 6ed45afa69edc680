"""``ConfigError``: one line naming the environment, the field and what is allowed.

Pydantic reports what it finds as a ``ValidationError``; ``config_error`` turns its first error
into that one line (``describe`` says what a field takes; a rule's refusal carries its own
problem and what is allowed: ``constraints.refuse``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from types import TracebackType
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from stacks.config.constraints import RULE_ERROR
from stacks.config.describe import (
    a_type,
    allowed,
    enum_noun,
    expected,
    field_types,
    is_enum,
    item_type,
    short_repr,
    strip,
)


class ConfigError(ValueError):
    """A configuration value is not allowed; ``str()`` is the one line shown to the user."""

    def __init__(self, env: str, field_name: str, problem: str, allowed: str) -> None:
        self.env = env
        self.field_name = field_name
        super().__init__(
            f"config error: environment '{env}', field '{field_name}': {problem}; "
            f"allowed: {allowed}"
        )


def config_error(error: ValidationError, model: type, env: str) -> ConfigError:
    """The one line of the first error pydantic found validating a ``model`` of ``env``."""
    first = error.errors(include_url=False)[0]
    path, annotation, rest = _locate(model, first["loc"])
    context: dict[str, Any] = first.get("ctx") or {}
    if first["type"] == RULE_ERROR:
        env = context["env"] or env
        where = () if context["env"] else tuple(path)
        given = context["field"] or ()
        refused: tuple[str, ...] = (given,) if isinstance(given, str) else given
        field_name = "/".join(".".join((*where, name)) for name in refused) or ".".join(where)
        return ConfigError(env, field_name, context["problem"], context["allowed"])
    if first["type"] in ("unexpected_keyword_argument", "unexpected_positional_argument"):
        owner = _owner(model, path)
        names = ", ".join(item.name for item in fields(owner))
        unknown = ".".join((*path, str(rest[0]) if rest else "(positional)"))
        return ConfigError(env, unknown, f"{owner.__name__} has no such field", names)
    wanted = strip(item_type(annotation, rest))[0]
    if first["type"] == "enum" and isinstance(first["input"], str) and is_enum(wanted):
        values = ", ".join(str(member.value) for member in wanted)
        return ConfigError(env, ".".join(path), _problem(first, annotation, rest), values)
    return ConfigError(env, ".".join(path), _problem(first, annotation, rest), allowed(annotation))


def _locate(model: type, loc: tuple[int | str, ...]) -> tuple[list[str], Any, list[int | str]]:
    """The field path an error location names (``web.cpu``), the annotation of its last field,
    and what the location says past it (items of a tuple or dict)."""
    path: list[str] = []
    annotation: Any = model
    rest = list(loc)
    current: Any = model
    while rest:
        if isinstance(current, type) and is_dataclass(current) and rest[0] in field_types(current):
            name = str(rest.pop(0))
            path.append(name)
            annotation = field_types(current)[name]
        elif isinstance(rest[0], int) and _is_section(item := item_type(annotation, rest[:1])):
            path.append(str(rest.pop(0)))  # an item of a tuple of sections: api.services.0
            annotation = item
        else:
            break
        current = strip(annotation)[0]
    return path, annotation, rest


def _is_section(annotation: Any) -> bool:
    base = strip(annotation)[0]
    return isinstance(base, type) and is_dataclass(base)


def _owner(model: type, path: list[str]) -> Any:
    current: Any = model
    for name in path:
        current = strip(field_types(current)[name])[0]
    return current


def _problem(error: ErrorDetails, annotation: Any, rest: list[int | str]) -> str:
    value = error["input"]
    kind = error["type"]
    item = "item " if rest else ""
    wanted = item_type(annotation, rest)
    if kind in ("missing", "missing_argument"):
        return "no value given"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{item}{value!r} is out of range"
    if kind == "multiple_of":
        return f"{item}{value!r} is not a multiple of {error.get('ctx', {}).get('multiple_of')}"
    if kind == "too_short":
        return "none given" if not value else f"{short_repr(value)} has too few items"
    if kind == "enum" and isinstance(value, str) and is_enum(strip(wanted)[0]):
        return f"{item}'{value}' is not a {enum_noun(strip(wanted)[0])}"
    if kind.endswith("_type") or kind in ("enum", "int_from_float", "none_required"):
        return f"{item}{short_repr(value)} is {a_type(value)}, not {expected(wanted, value)}"
    return f"{item}{short_repr(value)}: {error['msg']}"


def exit_code(command: Callable[[], int]) -> int:
    """What a command line returns: ``command``'s exit code, or 1 after the one line of a
    ConfigError it raised, on stderr."""
    try:
        return command()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1


def report_config_errors_in_one_line() -> None:
    """Make a ``ConfigError`` nobody catches print its one line (and exit 1), never a traceback.

    The environments are validated when ``stacks.config`` is imported, so a bad value stops
    every entry point (``app.py``, ``python -m stacks.config``, ``stacks.delivery``,
    ``preflight``) during its imports, before its own ``except ConfigError`` could run."""
    if isinstance(sys.excepthook, _OneLineConfigErrors):
        return
    sys.excepthook = _OneLineConfigErrors(sys.excepthook)


class _OneLineConfigErrors:
    """``sys.excepthook``: a ConfigError prints its line; anything else goes to ``previous``."""

    def __init__(self, previous: Callable[..., Any]) -> None:
        self.previous = previous

    def __call__(
        self, kind: type[BaseException], error: BaseException, trace: TracebackType | None
    ) -> None:
        if isinstance(error, ConfigError):
            print(error, file=sys.stderr)
        else:
            self.previous(kind, error, trace)
