"""What the check says: which migrations are new since BASE, the statements in them that can
break a running release, and the outcome's text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from migration_check.base import Base

MIGRATIONS = Path("lambda_src", "db_migrate", "migrations", "postgresql")
"""The migration set, relative to a tree's top."""

EXPAND_CONTRACT = """\
Migrations run before the new code takes traffic, so the release still serving ({short}) runs
on the new schema until the deploy finishes, and again after a rollback. Change the schema in
steps (expand/contract): add the new column or table first, ship code that reads and writes
both, and drop or rename the old one in a later release, once no running release uses it."""

RISKY = (
    ("DROP", re.compile(r"\bDROP\b", re.IGNORECASE)),
    ("RENAME", re.compile(r"\bRENAME\b", re.IGNORECASE)),
    (
        "ALTER ... TYPE",
        re.compile(r"\bALTER\s+(?:COLUMN\s+)?\S+\s+(?:SET\s+DATA\s+)?TYPE\b", re.IGNORECASE),
    ),
    ("SET NOT NULL", re.compile(r"\bSET\s+NOT\s+NULL\b", re.IGNORECASE)),
    ("REVOKE", re.compile(r"\bREVOKE\b", re.IGNORECASE)),
    ("ADD ... CHECK", re.compile(r"\bADD\b.*\bCHECK\b", re.IGNORECASE)),
)
"""Statements that can take away what the old code reads or writes."""
_ADD_NOT_NULL = re.compile(r"\bADD\b.*\bNOT\s+NULL\b", re.IGNORECASE)
_DEFAULT = re.compile(r"\bDEFAULT\b", re.IGNORECASE)
_LINE_COMMENT = re.compile(r"--[^\n]*")


@dataclass(frozen=True)
class Changes:
    """The migration files of this checkout against BASE's."""

    new: tuple[Path, ...]
    """Not in BASE: the ones this change adds."""
    edited: tuple[Path, ...]
    """In both, with other bytes (the runner refuses an applied migration that changed)."""

    @property
    def none(self) -> bool:
        return not self.new and not self.edited


def compare(base_tree: Path, checkout: Path) -> Changes:
    old = {path.name: path for path in sorted((base_tree / MIGRATIONS).glob("*.sql"))}
    current = sorted((checkout / MIGRATIONS).glob("*.sql"))
    return Changes(
        new=tuple(path for path in current if path.name not in old),
        edited=tuple(
            path
            for path in current
            if path.name in old and path.read_bytes() != old[path.name].read_bytes()
        ),
    )


def risky_statements(sql: str) -> list[tuple[int, str, str]]:
    """(line, kinds, statement) for each statement of `sql` that can break the old code.
    Statements are split at semicolons, which is rough inside $$ bodies but enough to point."""
    found: list[tuple[int, str, str]] = []
    text = _LINE_COMMENT.sub("", sql)
    start = 0
    for part in text.split(";"):
        statement = " ".join(part.split())
        first_line = 1 + text.count("\n", 0, start + len(part) - len(part.lstrip()))
        start += len(part) + 1
        kinds = [kind for kind, pattern in RISKY if pattern.search(statement)]
        if _ADD_NOT_NULL.search(statement) and not _DEFAULT.search(statement):
            kinds.append("ADD ... NOT NULL without DEFAULT")
        if kinds:
            shown = statement if len(statement) <= 100 else statement[:97] + "..."
            found.append((first_line, ", ".join(kinds), shown))
    return found


def changes_text(base: Base, changes: Changes) -> str:
    """The new and edited migrations, each with its risky statements."""
    lines = [f"New migrations (not in {base.short}):"]
    lines += _files(changes.new) or ["  none"]
    if changes.edited:
        lines.append(f"Edited since {base.short} (never edit an applied migration; add one):")
        lines += _files(changes.edited)
    return "\n".join(lines)


def _files(paths: tuple[Path, ...]) -> list[str]:
    lines = []
    for path in paths:
        lines.append(f"  {path.name}")
        text = path.read_text(encoding="utf-8", errors="replace")
        for line, kinds, statement in risky_statements(text):
            lines.append(f"    line {line}: {kinds}: {statement}")
    return lines


def success(base: Base, calls: int) -> str:
    return (
        f"migrations are backward compatible with {base.short}: "
        f"the old API passed the read/write smoke ({calls} calls)"
    )


def identical(base: Base) -> str:
    return f"the migrations are identical to {base.short}'s: running the smoke anyway"


def incompatible(base: Base) -> str:
    return f"migrations are NOT backward compatible with {base.short} ({base.ref})"


def migrations_failed(base: Base) -> str:
    return f"the migration check against {base.short} ({base.ref}) failed"


def failure(headline: str, details: list[str], base: Base, changes: Changes) -> str:
    """The failure report: what failed and why, the new migrations, expand/contract."""
    return "\n".join(
        [
            headline,
            *(f"  {detail}" for detail in details),
            changes_text(base, changes),
            EXPAND_CONTRACT.format(short=base.short),
        ]
    )
