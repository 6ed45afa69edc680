"""Builds the configured engine: one registry row per engine, nothing else to edit."""

from __future__ import annotations

from typing import Protocol

from constructs import Construct

from cdk_constructs.data_engine.aurora import AuroraServerless
from cdk_constructs.data_engine.choices import DatabaseEngine
from cdk_constructs.data_engine.interface import DataEngine, DataEngineProps
from cdk_constructs.data_engine.rds_instance import RdsInstance


class EngineBuilder(Protocol):
    """An engine's construct class: ``(scope, id_, *, props)`` to a ``DataEngine``."""

    def __call__(self, scope: Construct, id_: str, *, props: DataEngineProps) -> DataEngine: ...


ENGINES: dict[DatabaseEngine, EngineBuilder] = {
    DatabaseEngine.AURORA_POSTGRESQL: AuroraServerless,
    DatabaseEngine.AURORA_MYSQL: AuroraServerless,
    DatabaseEngine.POSTGRES: RdsInstance,
    DatabaseEngine.MYSQL: RdsInstance,
}
"""Adding an engine: its ``DatabaseEngine`` member and ``ENGINE_SPECS`` row (``choices``), its
module (a construct implementing ``DataEngine``; the shared parts are ``rds_base``) and a row
here."""


def create_data_engine(scope: Construct, id_: str, *, props: DataEngineProps) -> DataEngine:
    """The construct of ``props.engine``, built from ``props``."""
    return ENGINES[props.engine](scope, id_, props=props)
