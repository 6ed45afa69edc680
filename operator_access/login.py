"""The database login a tunnel offers: a read-only IAM token or the master secret's password,
kept in a client file of mode 0600 (``passfile`` for psql, ``--defaults-extra-file`` for
mysql) in the tunnel's private temporary directory, and the client command that reads it.

The secret is never on a command line (``ps`` shows argv to every user), in an environment
variable (inherited by every child, readable in ``/proc``) or in shell history: the printed
command names the file only, and the file goes with the directory when the tunnel closes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from operator_access.common import AccessError

LOCAL_HOST = "127.0.0.1"
TOKEN_MINUTES = 15
"""How long an RDS IAM authentication token is valid (botocore signs it for 900 s)."""


@dataclass(frozen=True)
class Login:
    """Who logs in where: ``host`` is the real endpoint the tunnel forwards to (the token is
    signed for it), the client connects to ``127.0.0.1:local_port``."""

    family: str
    host: str
    port: int
    database: str
    user: str
    local_port: int
    directory: Path
    iam: bool
    """True: the read-only user with IAM tokens; False: the master user's password."""

    @property
    def secret_file(self) -> Path:
        return self.directory / ("pgpass" if self.family == "postgresql" else "client.cnf")

    def write_token(self, rds: Any, region: str, now: datetime) -> datetime:
        """Mints a token (signed locally with the caller's credentials), stores it; returns when
        it expires."""
        token = rds.generate_db_auth_token(
            DBHostname=self.host, Port=self.port, DBUsername=self.user, Region=region
        )
        self.write_secret(token)
        return now + timedelta(minutes=TOKEN_MINUTES)

    def write_secret(self, secret: str) -> None:
        """The client's file, replaced whole (a client reading it never sees half of it)."""
        if self.family == "postgresql":
            # https://www.postgresql.org/docs/current/libpq-pgpass.html
            line = ":".join((LOCAL_HOST, str(self.local_port), "*", _pgpass(self.user)))
            text = f"{line}:{_pgpass(secret)}\n"
        else:
            # https://dev.mysql.com/doc/refman/8.4/en/option-files.html
            text = f'[client]\npassword="{_option_value(secret)}"\n'
        _write_private(self.secret_file, text)

    def command(self) -> str:
        """The client command to paste: it names the file, never the secret."""
        if self.family == "postgresql":
            conninfo = " ".join(
                f"{key}={_conninfo_value(value)}"
                for key, value in (
                    ("host", LOCAL_HOST),
                    ("port", str(self.local_port)),
                    ("dbname", self.database),
                    ("user", self.user),
                    ("sslmode", "require"),
                    ("passfile", str(self.secret_file)),
                )
            )
            return f"psql {shlex.quote(conninfo)}"
        words = [
            "mysql",
            f"--defaults-extra-file={self.secret_file}",  # must come first
            f"--host={LOCAL_HOST}",
            f"--port={self.local_port}",
            f"--user={self.user}",
            "--ssl-mode=REQUIRED",
            *(["--enable-cleartext-plugin"] if self.iam else []),
            self.database,
        ]
        return shlex.join(words)

    @property
    def tls_note(self) -> str:
        """Why the command does not verify the server's name (and, for MySQL's IAM login, why
        it sends the token in clear text)."""
        if self.family == "postgresql":
            mode = "sslmode=require, not verify-full"
        else:
            mode = "--ssl-mode=REQUIRED, not VERIFY_IDENTITY"
        note = (
            f"{mode}: the server's certificate names {self.host}, not {LOCAL_HOST}; the "
            "connection is still TLS from the client to the database."
        )
        if self.family == "mysql" and self.iam:
            note += (
                " --enable-cleartext-plugin: RDS takes the IAM token as a clear-text password,"
                " inside that TLS connection."
            )
        return note


def master_secret(secretsmanager: Any, secret_arn: str) -> tuple[str, str]:
    """The master user's name and password from its secret (the engine's JSON)."""
    text = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    try:
        fields = json.loads(text)
        return str(fields["username"]), str(fields["password"])
    except (ValueError, KeyError, TypeError):
        raise AccessError(
            f"secret {secret_arn} is not a database secret (JSON with username and password)"
        ) from None


def _write_private(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.new")
    staging.unlink(missing_ok=True)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    staging.replace(path)


def _pgpass(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _option_value(value: str) -> str:
    if "\n" in value:
        raise AccessError("the password holds a line break, which a client file cannot hold")
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _conninfo_value(value: str) -> str:
    """A libpq keyword value, quoted when it has to be."""
    if re.fullmatch(r"[\w./:@+-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
