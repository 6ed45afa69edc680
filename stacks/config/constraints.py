"""What a config field may hold beyond its type, written once next to the field.

Ranges are pydantic ``Field(ge=..., le=..., gt=..., multiple_of=...)`` constraints; ``Unit``
names what a number counts; a ``Rule`` checks what a range cannot say (a CIDR, a name pattern).
Error lines and the README's tables both read these, so each is stated only here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, Strict
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

RULE_ERROR = "config_rule"
"""The pydantic error type of a value a rule refuses (``refuse``)."""

BY_VALUE = Strict(False)
"""On an enum field (config is strict otherwise): the member's value, a plain string
(``"fargate"``), also works, and becomes the member (``WebRuntime.FARGATE``)."""


def refuse(
    problem: str,
    allowed: str,
    *,
    field: str | tuple[str, ...] | None = None,
    env: str | None = None,
) -> PydanticCustomError:
    """The error a rule raises during validation, for the one line ``ConfigError`` shows.

    ``field``: the field (or fields, shown as ``a/b``) of the model whose validator refuses,
    when that is not the refused value's own field; ``env``: the environment whose ``field``
    it is, when an app-wide rule refuses it."""
    context = {"problem": problem, "allowed": allowed, "field": field, "env": env}
    return PydanticCustomError(RULE_ERROR, "{problem}", context)


@dataclass(frozen=True)
class Unit:
    """What a number counts (``ACUs``), written after its range: ``0..256 ACUs``."""

    name: str


@dataclass(frozen=True)
class Rule:
    """A check run after the type check. ``check`` returns what is wrong with a value, or None
    when it is fine (or raises ``refuse(...)`` itself when what is allowed depends on the
    value); ``allowed`` says what the field takes, in error lines and in the README."""

    allowed: str
    check: Callable[[Any], str | None]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def _validate(self, value: Any) -> Any:
        problem = self.check(value)
        if problem is not None:
            raise refuse(problem, self.allowed)
        return value
