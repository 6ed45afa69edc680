"""The README's configuration tables, generated from the schema: every field with what it
means (its docstring), what it takes (its type and range or rule: ``describe.allowed``, the text
error lines use) and its default. ``python -m stacks.config readme`` rewrites them;
``tests/test_config_readme.py`` fails while the README disagrees."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from stacks.config.describe import allowed, article, field_types, strip
from stacks.config.schema import AppConfig, EnvironmentConfig

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- config tables: `python -m stacks.config readme` writes them from stacks/config/ -->"
END = "<!-- end of config tables -->"
TABLES = ((AppConfig, "the app"), (EnvironmentConfig, "each environment"))


@functools.cache
def field_docs(model: type) -> dict[str, str]:
    """Field name -> the docstring under it in the class body, on one line."""
    tree = ast.parse(inspect.getsource(model))
    body = next(node for node in tree.body if isinstance(node, ast.ClassDef)).body
    docs: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[statement.target.id] = " ".join(str(following.value.value).split())
    return docs


def rows(model: type, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(field, meaning, allowed, default) of every field of ``model``, then of its sections'."""
    sections: list[tuple[str, type]] = []
    for item in dataclasses.fields(model):
        annotation = field_types(model)[item.name]
        base = strip(annotation)[0]
        yield (
            f"{prefix}{item.name}",
            field_docs(model).get(item.name, ""),
            f"{article(base.__name__)} (fields below)"
            if _is_section(base)
            else allowed(annotation),
            _default(model, item.name),
        )
        if _is_section(base):
            sections.append((item.name, base))
    for name, section in sections:
        yield from rows(section, f"{prefix}{name}.")


def tables() -> str:
    """The Markdown of every table, between the markers the README holds them in."""
    lines = [BEGIN]
    for model, what in TABLES:
        lines += [
            "",
            f"### `{model.__name__}`: {what}",
            "",
            "| field | meaning | allowed | default |",
        ]
        lines.append("|---|---|---|---|")
        lines += [f"| {' | '.join(map(_cell, row))} |" for row in _code_names(rows(model))]
    return "\n".join([*lines, "", END])


def readme_tables(readme: Path = README) -> str:
    """What the README holds between the markers, markers included ("" without them)."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        return ""
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def write_readme_tables(readme: Path = README) -> None:
    current = readme_tables(readme)
    if not current:
        raise SystemExit(f"{readme} has no '{BEGIN}' ... '{END}' block to write the tables into")
    readme.write_text(readme.read_text().replace(current, tables()))


def _is_section(annotation: Any) -> bool:
    return dataclasses.is_dataclass(annotation) and annotation not in (AppConfig, EnvironmentConfig)


def _default(model: type, name: str) -> str:
    info = model.__pydantic_fields__[name]  # type: ignore[attr-defined]
    if info.default_factory is not None:
        value = info.default_factory()
        return "defaults" if dataclasses.is_dataclass(value) else f"`{_value(value)}`"
    return "required" if info.default is PydanticUndefined else f"`{_value(info.default)}`"


def _value(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return ", ".join(map(_value, value)) if value else "()"
    return repr(value) if isinstance(value, str) and not value else str(value)


def _code_names(rows: Iterator[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    for name, *rest in rows:
        yield (f"`{name}`", *rest)


def _cell(text: str) -> str:
    """Docstring markup (``x``) as Markdown (`x`); a pipe escaped."""
    return re.sub(r"``([^`]+)``", r"`\1`", text).replace("|", "\\|")
