"""Field types and constraints in words: what error lines say a field takes, and the README."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from annotated_types import Ge, Gt, Le, MinLen, MultipleOf
from pydantic.fields import FieldInfo

from cdk_constructs.options import Image, InterfaceEndpoint, NatMode, WebRuntime
from stacks.config.constraints import Rule, Unit

_TYPE_NAMES: Mapping[Any, str] = {
    type(None): "None",
    bool: "a boolean (True or False)",
    int: "an integer",
    float: "a number",
    str: "a string",
}
_ENUM_NOUNS: Mapping[type[Enum], str] = {
    InterfaceEndpoint: "known endpoint name",
    NatMode: "NAT mode",
    WebRuntime: "web runtime",
    Image: "image",
}
"""What a value of the enum is called in "'x' is not a NAT mode"."""
_NOTHING: Any = object()


@functools.cache
def field_types(model: type) -> dict[str, Any]:
    """Field name -> annotation, with its ``Annotated`` constraints, of a config dataclass."""
    return get_type_hints(model, include_extras=True)


def strip(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """The type under an ``Annotated`` annotation and its metadata (``Field``'s constraints
    unpacked: ``Ge(1)``, ``Le(25)``, ...)."""
    if get_origin(annotation) is not Annotated:
        return annotation, ()
    base, *metadata = get_args(annotation)
    flat: list[Any] = []
    for item in metadata:
        flat.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return base, tuple(flat)


def is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Enum)


def enum_noun(enum: type[Enum]) -> str:
    return _ENUM_NOUNS.get(enum, f"{enum.__name__} value")


def article(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def a_type(value: object) -> str:
    """The type of a value as a message says it: 'a str', 'an int', 'no value'."""
    return "no value" if value is None else article(type(value).__name__)


def short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def expected(annotation: Any, given: Any = _NOTHING) -> str:
    """An annotation's type in words: 'an integer', 'a tuple, each item a string'. Given a value
    that is no number at all where a number belongs, 'a number' (whatever kind it must be)."""
    base = strip(annotation)[0]
    origin, args = get_origin(base), get_args(base)
    if origin in (Union, UnionType):
        return " or ".join(expected(arm, given) for arm in args)
    if is_enum(base):
        return f"{article(base.__name__)} ({', '.join(str(m.value) for m in base)})"
    if origin is tuple:
        return f"a tuple, each item {expected(args[0])}"
    if origin in (dict, Mapping):
        return f"a dict of {expected(args[0])} to {expected(args[1])}"
    if base in (int, float) and given is not _NOTHING and not _is_number(given):
        return "a number"
    if base in _TYPE_NAMES:
        return _TYPE_NAMES[base]
    return article(getattr(base, "__name__", str(base)))


def item_type(annotation: Any, rest: list[int | str]) -> Any:
    """The annotation of the item an error location points at inside a field (``rest``: the
    location past the field: tuple indexes, dict keys, ``'[key]'`` for a key itself)."""
    current = annotation
    for index, step in enumerate(rest):
        if step == "[key]":
            continue
        base = strip(current)[0]
        args = get_args(base)
        if get_origin(base) is tuple:
            current = args[0]
        elif get_origin(base) in (dict, Mapping):
            is_key = index + 1 < len(rest) and rest[index + 1] == "[key]"
            current = args[0] if is_key else args[1]
    return current


def allowed(annotation: Any) -> str:
    """What a field takes, in words: its rule's text, or its type with range and unit
    ('an integer 1..25', 'a number 0..256 ACUs, a multiple of 0.5')."""
    base, metadata = strip(annotation)
    rule = next((item for item in metadata if isinstance(item, Rule)), None)
    if rule is not None:
        return rule.allowed
    origin, args = get_origin(base), get_args(base)
    if origin in (Union, UnionType):
        return " or ".join(allowed(arm) for arm in args)
    if origin is tuple:
        return f"a tuple, each item {allowed(args[0])}" + _length(metadata)
    if origin in (dict, Mapping):
        return f"a dict of {allowed(args[0])} to {allowed(args[1])}"
    low, high = _bound(metadata, Ge, "ge"), _bound(metadata, Le, "le")
    if base is int and low is not None and high is not None and high - low == 1:
        return f"{low} or {high}"  # 'an integer 0..1' reads worse
    bounds = _range(metadata)
    return expected(base) + (f" {bounds}" if bounds else "")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bound(metadata: tuple[Any, ...], kind: type, attribute: str) -> Any:
    return next((getattr(item, attribute) for item in metadata if isinstance(item, kind)), None)


def _range(metadata: tuple[Any, ...]) -> str:
    low, above, high = (
        _bound(metadata, Ge, "ge"),
        _bound(metadata, Gt, "gt"),
        _bound(metadata, Le, "le"),
    )
    step, unit = _bound(metadata, MultipleOf, "multiple_of"), _bound(metadata, Unit, "name")
    if low is not None and high is not None:
        text = f"{_number(low)}..{_number(high)}"
    elif above is not None:
        text = f"above {_number(above)}" + (
            f" and at most {_number(high)}" if high is not None else ""
        )
    elif low is not None:
        text = f"at least {_number(low)}"
    else:
        text = f"at most {_number(high)}" if high is not None else ""
    text += f" {unit}" if unit else ""
    return text + (f", a multiple of {_number(step)}" if step else "")


def _length(metadata: tuple[Any, ...]) -> str:
    return ", one or more" if _bound(metadata, MinLen, "min_length") == 1 else ""
