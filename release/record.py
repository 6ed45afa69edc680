"""Each tier's release, recorded in SSM after verify saw it succeed: what runs now and what ran
before, which is what ``make rollback`` returns to.

``/<app_name>/<env>/release/<tier>``, a String parameter holding
``{"current": ..., "previous": ..., "at": ...}`` (web: the container image URI; api: the
function version). ``previous`` moves only when ``current`` changes: verifying the same
release again writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

TIERS = ("web", "api")


def parameter_name(app_name: str, env_name: str, tier: str) -> str:
    return f"/{app_name}/{env_name}/release/{tier}"


@dataclass(frozen=True)
class Record:
    current: str
    previous: str | None
    at: str

    def to_json(self) -> str:
        return json.dumps(
            {"current": self.current, "previous": self.previous, "at": self.at}, sort_keys=True
        )


def read_record(ssm: Any, name: str) -> Record | None:
    """The record, or None when there is none (or it is not one: written by hand)."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    try:
        data = json.loads(value)
        return Record(str(data["current"]), _optional(data.get("previous")), str(data["at"]))
    except (ValueError, KeyError, TypeError):
        return None


def record_release(ssm: Any, name: str, current: str, at: datetime) -> Record:
    """Records ``current``; the old current becomes ``previous`` only if it differs."""
    existing = read_record(ssm, name)
    if existing is not None and existing.current == current:
        return existing
    record = Record(current, existing.current if existing else None, at.isoformat())
    ssm.put_parameter(
        Name=name,
        Value=record.to_json(),
        Type="String",
        Overwrite=True,
        Description="The tier's current and previous release (python -m release)",
    )
    return record


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)
