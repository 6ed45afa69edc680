"""How config classes validate: frozen pydantic dataclasses, strict, no unknown fields.

A value is checked when its object is built (``dataclasses.replace`` builds anew, so it checks
too), and a bad one raises ``ConfigError``: one line naming the environment, the field and
what is allowed. A section (``WebConfig``, ...) cannot name its environment, so a bad section
does not raise: it keeps what it was given, and the environment that takes it checks that again
and reports it, with its name and the section's field (``web.min_instances``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast, dataclass_transform

from pydantic import ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import ArgsKwargs, ErrorDetails, InitErrorDetails, PydanticCustomError

from stacks.config.constraints import RULE_ERROR
from stacks.config.errors import config_error

T = TypeVar("T")
SCHEMA = ConfigDict(strict=True, extra="forbid")
"""Strict: ``"512"`` is no integer and ``1`` no boolean; an unknown field is an error."""
_GIVEN = "_config_given"
Args = tuple[Any, ...]
Kwargs = dict[str, Any]


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, Field))
def section(cls: type[T]) -> type[T]:
    """A config section: validated when built; a bad one keeps what it was given (its fields
    as given, defaults for the rest) for the environment that takes it to report."""
    return _validated(
        cls, lambda model, built, error, args, kwargs: _keep_given(built, args, kwargs)
    )


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, Field))
def reported(*, env_field: str | None = None) -> Callable[[type[T]], type[T]]:
    """A config class that raises ``ConfigError`` when built with a bad value, naming the
    environment in its field ``env_field`` (``*``, the whole app, without one)."""

    def report(model: type, _: Any, error: ValidationError, args: Args, kwargs: Kwargs) -> None:
        env = _given(model, env_field, args, kwargs) if env_field else "*"
        raise config_error(error, model, env) from None

    return lambda cls: _validated(cls, report)


def _validated(
    cls: type[T], invalid: Callable[[type, Any, ValidationError, Args, Kwargs], None]
) -> type[T]:
    """``cls`` as a frozen, strict pydantic dataclass whose ``__init__`` hands a validation
    error to ``invalid`` (model, the object being built, the error, the arguments)."""
    model = pydantic_dataclass(cls, frozen=True, config=SCHEMA)
    validate = model.__init__

    @functools.wraps(validate)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            validate(self, *args, **kwargs)
        except ValidationError as error:
            invalid(model, self, error, args, kwargs)

    model.__init__ = init  # type: ignore[method-assign]
    return cast("type[T]", model)


def check_sections(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The field validator (``mode="wrap"``) of a field holding a section, or a tuple of them
    (``api.services``): a section kept as given is validated again here, so its error comes out
    at this field (``web.spot``, ``api.services.0.port``)."""
    if isinstance(value, tuple):
        return handler(
            tuple(_item_validated_again(index, item) for index, item in enumerate(value))
        )
    return handler(_validated_again(value))


def _item_validated_again(index: int, item: Any) -> Any:
    """``_validated_again`` for an item of a tuple: its errors' locations get its index."""
    try:
        return _validated_again(item)
    except ValidationError as error:
        lines = [_line_error(line, index) for line in error.errors(include_url=False)]
        raise ValidationError.from_exception_data(error.title, lines) from None


def _line_error(line: ErrorDetails, index: int) -> InitErrorDetails:
    kind = line["type"]
    context = line.get("ctx") or {}
    error_type = PydanticCustomError(kind, "{problem}", context) if kind == RULE_ERROR else kind
    return InitErrorDetails(
        type=error_type, loc=(index, *line["loc"]), input=line["input"], ctx=context
    )


def _validated_again(value: Any) -> Any:
    given = getattr(value, _GIVEN, None)
    if given is not None:
        model = type(value)
        value = object.__new__(model)
        model.__pydantic_validator__.validate_python(given, self_instance=value)
    return value


def _keep_given(section: Any, args: Args, kwargs: Kwargs) -> None:
    named = dict(zip((item.name for item in dataclasses.fields(section)), args, strict=False))
    named.update(kwargs)
    for item in dataclasses.fields(section):
        if item.name in named:
            value = named[item.name]
        elif item.default is not dataclasses.MISSING:
            value = item.default
        elif item.default_factory is not dataclasses.MISSING:
            value = item.default_factory()
        else:
            continue  # missing: the environment reports it
        object.__setattr__(section, item.name, value)
    object.__setattr__(section, _GIVEN, ArgsKwargs(args, kwargs))


def _given(model: type, name: str, args: Args, kwargs: Kwargs) -> str:
    """The value given for field ``name`` (the environment's name), as the error line says it."""
    position = [item.name for item in dataclasses.fields(model)].index(name)
    value = kwargs.get(name, args[position] if position < len(args) else None)
    return value if isinstance(value, str) else repr(value)
