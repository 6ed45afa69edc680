"""A real MySQL-family server on this machine for the MySQL engines' code: Debian's MariaDB
(``make mariadb`` installs it where neither it nor MySQL is found) or, where that is what the
machine has (GitHub's Ubuntu runners), MySQL 8.

The server is started with no option files (``--no-defaults``), in a throwaway directory, on
127.0.0.1 and a free TCP port. It requires TLS of every TCP connection
(``require_secure_transport``, as RDS and Aurora are set up here) with a certificate for
``localhost`` and ``127.0.0.1`` signed by a throwaway CA (``ca_file``); ``root`` logs in with a
password over TLS. Its SQL mode, character set and time zone are MySQL 8's and RDS's defaults
(``SERVER_SETTINGS``), so MariaDB behaves as the deployed engine does where the two can agree.

Users are server-wide, unlike databases: a test that creates one drops it again, and the API's
``app_api`` (created by the migrations in every database) is shared by all of them.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pymysql
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pymysql.constants import CLIENT

HOST = "127.0.0.1"
SERVER_BINARIES = ("mariadbd", "mysqld")
"""Looked for in this order on the PATH, then in /usr/sbin (not on a non-root user's PATH)."""
SERVER_BINARY_ENV = "DEVKIT_MYSQLD"
"""A server binary to use instead (a MySQL 8 or MariaDB ``mysqld``/``mariadbd``)."""
SERVER_SETTINGS = (
    # MySQL 8.0's and 8.4's default SQL mode (RDS and Aurora MySQL keep it); MariaDB's own
    # default is not strict for non-transactional tables and lacks ONLY_FULL_GROUP_BY.
    "--sql-mode=ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
    "--character-set-server=utf8mb4",  # MariaDB without option files: latin1
    "--default-time-zone=+00:00",  # RDS: UTC
)
INNODB_LOG = "--innodb-log-file-size=8M"
"""MariaDB's redo log: instead of 96 MB, most of the data directory (in memory, where /dev/shm
may be small: 64 MB in a default Docker container)."""
MIN_FREE_IN_MEMORY = 256 * 2**20
"""The least free space /dev/shm must have for the data directory to go there."""
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0

Flavour = Literal["mariadb", "mysql"]


class ServerError(RuntimeError):
    """The server could not be installed, initialised or started; the message has its log."""


@dataclass(frozen=True)
class MyServer:
    """A running server: root logs in over TLS with ``root_password``."""

    host: str
    port: int
    ca_file: str
    """The throwaway CA that signed the server's certificate (PEM)."""
    root_password: str
    flavour: Flavour
    version: str
    """``SELECT VERSION()``, e.g. ``10.11.19-MariaDB-0+deb12u1`` or ``8.0.41``."""
    log_file: Path

    def database(self, dbname: str) -> MyDatabase:
        return MyDatabase(
            host=self.host,
            port=self.port,
            dbname=dbname,
            ca_file=self.ca_file,
            root_password=self.root_password,
        )


@dataclass(frozen=True)
class MyDatabase:
    """A database of a local server, reachable as ``root`` (or any user with its password)."""

    host: str
    port: int
    dbname: str
    ca_file: str
    root_password: str

    def ssl_context(self) -> ssl.SSLContext:
        """TLS that verifies the server's certificate against ``ca_file`` and its host name."""
        return ssl.create_default_context(cafile=self.ca_file)

    def connect(
        self, user: str = "root", password: str | None = None, *, multi_statements: bool = False
    ) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """An autocommit utf8mb4 connection over verified TLS to this database.

        `password` defaults to the root password for root (and to none for anyone else).
        `multi_statements` lets one ``execute`` run several statements (the migration runner's
        connections need it).
        """
        if password is None:
            password = self.root_password if user == "root" else ""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            database=self.dbname,
            ssl=self.ssl_context(),
            autocommit=True,
            charset="utf8mb4",
            connect_timeout=10,
            client_flag=CLIENT.MULTI_STATEMENTS if multi_statements else 0,
        )


def create_database(server: MyServer, dbname: str) -> MyDatabase:
    database = server.database(dbname)
    with server.database("mysql").connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {quote_identifier(dbname)}")
    return database


def drop_database(server: MyServer, dbname: str) -> None:
    with server.database("mysql").connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {quote_identifier(dbname)}")


def grant_local_login(database: MyDatabase, user: str = "app_api", *, password: str) -> None:
    """Lets `user` (a migration-created ``'user'@'%'``, e.g. the API's) log in with `password`.

    On RDS and Aurora the API's user signs in with an IAM token (AWSAuthenticationPlugin); a
    local server has no such plugin, so the migration leaves the user locked without a usable
    password. Tests stand in for IAM at the token boundary: the API's token signer is replaced by
    one returning `password`, and this makes the server accept it. Server-wide, like the user.
    """
    with database.connect() as conn, conn.cursor() as cur:
        cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s ACCOUNT UNLOCK", (user, password))


def quote_identifier(name: str) -> str:
    """`name` as a backtick-quoted identifier."""
    return "`" + name.replace("`", "``") + "`"


# --- the server --------------------------------------------------------------------------------


@contextlib.contextmanager
def local_server(prefix: str = "mysqld-") -> Iterator[MyServer]:
    """A throwaway server in a private temporary directory, stopped and removed on exit.

    Raises ServerError, with the tail of the server's log, when no server binary is found or it
    does not start: tests fail, they never skip, without a server.
    """
    binary = find_server_binary()
    flavour, _ = server_flavour(binary)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=_parent_dir(flavour)) as root:
        directory = Path(root)
        _initialise(binary, flavour, directory)
        tls = write_certificates(directory)
        server, process = _start(binary, flavour, directory, tls, secrets.token_hex(16))
        try:
            yield server
        finally:
            _stop(process)


def find_server_binary() -> Path:
    """``$DEVKIT_MYSQLD``, else mariadbd or mysqld on the PATH or in /usr/sbin."""
    override = os.environ.get(SERVER_BINARY_ENV)
    if override:
        if not os.access(override, os.X_OK):
            raise ServerError(f"${SERVER_BINARY_ENV} is {override}, which is not executable")
        return Path(override)
    for name in SERVER_BINARIES:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
        if found:
            return Path(found)
    raise ServerError(
        "no MySQL-family server: neither mariadbd nor mysqld is on the PATH or in /usr/sbin; "
        "run `make mariadb` (apt-get install mariadb-server-core)"
    )


def server_flavour(binary: Path) -> tuple[Flavour, str]:
    """("mariadb" or "mysql", the version line) of a server binary."""
    result = subprocess.run(  # noqa: S603  # a server binary found above
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    line = (result.stdout or result.stderr).strip()
    if result.returncode != 0 or " Ver " not in line:
        raise ServerError(f"{binary} --version failed: {line or result.returncode}")
    return ("mariadb" if "MariaDB" in line else "mysql"), line


def _parent_dir(flavour: Flavour) -> Path | None:
    """For MariaDB, /dev/shm where writable with room to spare (in memory: DDL is much
    faster). MySQL 8 in the temporary directory: Ubuntu's AppArmor profile for mysqld lets it use
    its user's files in /tmp, not in /dev/shm."""
    in_memory = Path("/dev/shm")  # noqa: S108  # private TemporaryDirectory inside it
    if flavour != "mariadb" or not in_memory.is_dir() or not os.access(in_memory, os.W_OK):
        return None
    space = os.statvfs(in_memory)
    return in_memory if space.f_bavail * space.f_frsize >= MIN_FREE_IN_MEMORY else None


def _as_root() -> list[str]:
    """Both servers refuse to run as root unless told to."""
    return ["--user=root"] if os.geteuid() == 0 else []


def _initialise(binary: Path, flavour: Flavour, directory: Path) -> None:
    """A new data directory with the system tables; root without a password, for now."""
    data = directory / "data"
    if flavour == "mariadb":
        install_db = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if install_db is None:
            raise ServerError("mariadb-install-db not found next to " + str(binary))
        command = [
            install_db,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",  # root@localhost and @127.0.0.1 only, not @<hostname>
            INNODB_LOG,  # passed on to mariadbd
            *_as_root(),
        ]
    else:
        command = [
            str(binary),
            "--no-defaults",
            "--initialize-insecure",
            f"--datadir={data}",
            f"--log-error={directory / 'initialize.log'}",
            *_as_root(),
        ]
    result = subprocess.run(  # noqa: S603  # our own binary and arguments
        command, capture_output=True, text=True, timeout=120, check=False, cwd=directory
    )
    if result.returncode != 0:
        log = directory / "initialize.log"
        output = result.stdout + result.stderr + (log.read_text() if log.exists() else "")
        raise ServerError(
            f"initialising a {flavour} data directory failed ({result.returncode}):\n"
            + _tail(output)
        )


def _start(
    binary: Path, flavour: Flavour, directory: Path, tls: tuple[Path, Path, Path], password: str
) -> tuple[MyServer, subprocess.Popen[bytes]]:
    """Starts the server on a free port (another one if a racing process took it first) and
    waits until root logs in over TLS."""
    init_file = directory / "init.sql"
    init_file.write_text(_init_sql(password))
    ca_file, cert_file, key_file = tls
    log_file = directory / "server.log"
    files = directory / "files"
    files.mkdir(mode=0o700)
    for _attempt in range(3):
        port = free_port()
        log_file.unlink(missing_ok=True)
        command = [
            str(binary),
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            f"--socket={directory / 'mysqld.sock'}",
            f"--pid-file={directory / 'mysqld.pid'}",
            f"--log-error={log_file}",
            f"--bind-address={HOST}",
            f"--port={port}",
            "--skip-name-resolve",
            f"--init-file={init_file}",
            f"--ssl-ca={ca_file}",
            f"--ssl-cert={cert_file}",
            f"--ssl-key={key_file}",
            "--require-secure-transport=ON",
            # MySQL's packages build in /var/lib/mysql-files, which it must be able to read
            f"--secure-file-priv={files}",
            "--innodb-flush-log-at-trx-commit=0",  # a throwaway server: no fsync per commit
            *SERVER_SETTINGS,
            # MySQL 8: no X Protocol listener (port 33060) and no binary log
            *([INNODB_LOG] if flavour == "mariadb" else ["--mysqlx=OFF", "--skip-log-bin"]),
            *_as_root(),
        ]
        process = subprocess.Popen(  # noqa: S603  # our own binary and arguments
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            server = _wait_until_ready(process, log_file, port, str(ca_file), password, flavour)
        except _PortTakenError:
            _stop(process)
            continue
        except BaseException:
            _stop(process)
            raise
        return server, process
    raise ServerError(f"no free port for the {flavour} server after 3 tries")


class _PortTakenError(Exception):
    """Another process bound the port between free_port and the server."""


def _init_sql(password: str) -> str:
    """Run by the server as it starts: root logs in with `password`, from 127.0.0.1 too (which
    --skip-name-resolve does not count as localhost). One statement a line."""
    literal = f"'{password}'"  # hex: nothing to escape
    return "".join(
        f"{statement};\n"
        for statement in (
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'",
            f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {literal}",
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
            f"ALTER USER 'root'@'localhost' IDENTIFIED BY {literal}",
        )
    )


def _wait_until_ready(
    process: subprocess.Popen[bytes],
    log_file: Path,
    port: int,
    ca_file: str,
    password: str,
    flavour: Flavour,
) -> MyServer:
    database = MyDatabase(
        host=HOST, port=port, dbname="mysql", ca_file=ca_file, root_password=password
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    error = "not ready for connections"
    while time.monotonic() < deadline:
        log = _read(log_file)
        if process.poll() is not None or "Address already in use" in log:
            if "Address already in use" in log:
                raise _PortTakenError
            raise ServerError(
                f"the {flavour} server exited ({process.returncode}) while starting:\n" + _tail(log)
            )
        if "ready for connections" in log:
            try:
                with database.connect() as conn, conn.cursor() as cur:
                    cur.execute("SELECT VERSION()")
                    (version,) = cur.fetchone() or ("?",)
            except pymysql.err.OperationalError as exc:
                error = str(exc)
            else:
                return MyServer(
                    host=HOST,
                    port=port,
                    ca_file=ca_file,
                    root_password=password,
                    flavour=flavour,
                    version=str(version),
                    log_file=log_file,
                )
        time.sleep(0.01)
    raise ServerError(
        f"the {flavour} server did not let root log in over TLS within "
        f"{START_TIMEOUT_SECONDS:.0f} s ({error}):\n" + _tail(_read(log_file))
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean shutdown), SIGKILL if it takes too long."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- TLS ---------------------------------------------------------------------------------------


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed for localhost and 127.0.0.1, in
    `directory`: (CA certificate, server certificate, server key), PEM."""
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devkit MySQL test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "server.pem", "key.pem"))
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
