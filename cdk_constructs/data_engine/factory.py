"""Builds the configured engine: one registry row per engine, nothing else to edit."""

from __future__ import annotations

from typing import Protocol

from constructs import Construct

from cdk_constructs.data_engine.aurora_postgres import AuroraPostgres
from cdk_constructs.data_engine.choices import DatabaseEngine
from cdk_constructs.data_engine.interface import DataEngine, DataEngineProps


class EngineBuilder(Protocol):
    """An engine's construct class: ``(scope, id_, *, props)`` to a ``DataEngine``."""

    def __call__(self, scope: Construct, id_: str, *, props: DataEngineProps) -> DataEngine: ...


ENGINES: dict[DatabaseEngine, EngineBuilder] = {
    DatabaseEngine.AURORA_POSTGRESQL: AuroraPostgres,
}
"""Adding an engine: its module (a construct implementing ``DataEngine``), its
``DatabaseEngine`` member and a row here."""


def create_data_engine(
    scope: Construct, id_: str, *, engine: DatabaseEngine, props: DataEngineProps
) -> DataEngine:
    """The construct of ``engine``, built from ``props``."""
    return ENGINES[engine](scope, id_, props=props)
