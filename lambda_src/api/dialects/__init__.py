"""What differs between the engine families, behind one small interface: each family's module
(`postgresql`, `mysql`) holds all of it: the driver, how it connects (TLS, the IAM token as the
password, timeouts), how values are quoted and rows read back, how the server's errors map onto
`api.sql`'s, and the SQL of the writes that differ (`sql.Session`).

Both take their TLS from `tls_context`. `load` imports a family's module on first use only, so a
function imports one driver: pg8000 for PostgreSQL, PyMySQL for MySQL (RDS for MySQL, Aurora
MySQL; MariaDB locally).
"""

from __future__ import annotations

import contextlib
import importlib
import ssl
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import certifi

from ..sql import Session

if TYPE_CHECKING:
    from ..db import DatabaseSettings

FAMILIES = ("postgresql", "mysql")
"""DB_ENGINE_FAMILY's values; the first is the default."""


class Dialect(ABC):
    """One engine family's driver and SQL."""

    family: ClassVar[str]
    session_class: ClassVar[type[Session]]
    driver_error: ClassVar[type[Exception]]
    """The base of the driver's exceptions."""

    @abstractmethod
    def connect(self, settings: DatabaseSettings, password: str) -> Any:
        """An open connection (the driver's object); raises whatever the driver or the network
        raises when there is none."""

    def close(self, conn: Any) -> None:
        # Saying goodbye on a dead socket fails; the socket is closed all the same.
        with contextlib.suppress(self.driver_error, OSError):
            conn.close()

    def session(self, conn: Any, statement_timeout_ms: int) -> Session:
        """One request's SQL on `conn`, each statement bounded by the timeout."""
        return self.session_class(conn, statement_timeout_ms)


def checked_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"DB_ENGINE_FAMILY must be one of {FAMILIES}, not {family!r}")
    return family


def load(family: str) -> Dialect:
    """The dialect of `family` (one of `FAMILIES`), its driver imported now."""
    module = importlib.import_module(f"{__name__}.{checked_family(family)}")
    dialect: Dialect = module.DIALECT
    return dialect


def tls_context(sslmode: str) -> ssl.SSLContext:
    """verify-full: the server's certificate must chain to a CA of certifi's bundle (Amazon's
    roots included) and name DB_HOST. require: encrypted but unverified, as libpq's require
    without a root certificate (MySQL's REQUIRED). Every engine gets the same."""
    if sslmode == "verify-full":
        return ssl.create_default_context(cafile=certifi.where())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
