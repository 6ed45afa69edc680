"""The API's database drivers on the wire, against a stand-in server of each engine family: the
IAM token goes only over TLS (PostgreSQL: in a startup message RDS Proxy accepts; MySQL: RDS
asks for it with mysql_clear_password, which PyMySQL answers in clear on any transport, so only
the TLS the dialect requires keeps it off the wire); verify-full checks the CA and the name; a
server that refuses TLS or stops answering is given up. (The local MariaDB asks for a scrambled
password instead and trusts its own CA: test_api_mysql.)"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.test_api_harness import REGION, db, items


def _message(code: bytes, payload: bytes = b"") -> bytes:
    return code + struct.pack("!i", len(payload) + 4) + payload


SSL_REQUEST = 80877103
ASK_CLEARTEXT = _message(b"R", struct.pack("!i", 3))
SIGNED_IN = _message(b"R", struct.pack("!i", 0)) + _message(b"Z", b"I")
ONE_ROW = (  # an int4 column holding 1, as `SELECT 1` answers
    _message(b"T", struct.pack("!h", 1) + b"x\0" + struct.pack("!ihihih", 0, 0, 23, 4, -1, 0))
    + _message(b"D", struct.pack("!hi", 1, 1) + b"1")
    + _message(b"C", b"SELECT 1\0")
)
TOKEN = "iam-token-as-password"
CA_KEY_USAGE = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
"""Signs certificates and CRLs only (key_cert_sign and crl_sign are the 6th and 7th)."""


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size and (block := sock.recv(size - len(data))):
        data += block
    return data


class StandInServer:
    """A server on 127.0.0.1, one session at a time, each recorded in `sessions` by `_session`
    (a subclass's: the protocol), which its errors and the client's hanging up end. With TLS
    when `tls` is given, else it has none to offer; `silent` (PostgreSQL's): it stops answering
    statements."""

    family: str

    def __init__(self, tls: ssl.SSLContext | None, *, silent: bool = False) -> None:
        self.tls, self.silent = tls, silent
        self.sessions: list[dict[str, Any]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._ended = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                sock, _ = self._listener.accept()
                sock.settimeout(10)
                session: dict[str, Any] = {"tls": False}
                self.sessions.append(session)
                with sock, contextlib.suppress(OSError, AssertionError, struct.error):
                    self._session(sock, session)
                self._ended.release()

    def _session(self, sock: socket.socket, session: dict[str, Any]) -> None:
        raise NotImplementedError

    def wait_for_sessions(self, count: int) -> list[dict[str, Any]]:
        """The sessions, once ``count`` of them have ended on this side too (the client may
        hang up before this thread has recorded what it saw)."""
        for _ in range(count):
            assert self._ended.acquire(timeout=5), "the stand-in never saw the session end"
        return self.sessions

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


class PgStandIn(StandInServer):
    """Enough of PostgreSQL for pg8000's sign-in and `SELECT 1`: TLS when asked (`tls`, else it
    refuses it), then a cleartext password request (what RDS sends for IAM auth), then one row
    per statement of each Query (`silent`: no answer)."""

    family = "postgresql"

    def _session(self, sock: socket.socket, session: dict[str, Any]) -> None:
        length, code = struct.unpack("!ii", _read(sock, 8))
        if code == SSL_REQUEST:
            if self.tls is None:
                sock.sendall(b"N")
                session["after_refusal"] = sock.recv(64)  # b"": hung up, sent nothing plain
                return
            sock.sendall(b"S")
            sock = self.tls.wrap_socket(sock, server_side=True)
            session["tls"] = True
            length, code = struct.unpack("!ii", _read(sock, 8))
        pairs = _read(sock, length - 8).decode().split("\0")[:-2]  # name, value, ..., "", ""
        session["startup"] = dict(zip(pairs[::2], pairs[1::2], strict=True))
        sock.sendall(ASK_CLEARTEXT)
        _, length = struct.unpack("!ci", _read(sock, 5))
        session["password"] = _read(sock, length - 4).rstrip(b"\0").decode()
        sock.sendall(SIGNED_IN)
        while (header := _read(sock, 5)) and header[:1] != b"X":
            query = _read(sock, struct.unpack("!i", header[1:])[0] - 4)
            if not self.silent:
                sock.sendall(ONE_ROW * (query.count(b";") + 1) + _message(b"Z", b"I"))


# --- MySQL ---------------------------------------------------------------------------------


CLIENT_SSL = 0x800
CAPABILITIES = (
    0x1  # LONG_PASSWORD
    | 0x8  # CONNECT_WITH_DB
    | 0x200  # PROTOCOL_41
    | 0x8000  # SECURE_CONNECTION
    | 0x10000  # MULTI_STATEMENTS
    | 0x20000  # MULTI_RESULTS
    | 0x80000  # PLUGIN_AUTH
    | 0x100000  # CONNECT_ATTRS
    | 0x200000  # PLUGIN_AUTH_LENENC_CLIENT_DATA
)
AUTOCOMMIT = 0x0002


def _lenenc(data: bytes) -> bytes:
    assert len(data) < 251
    return bytes([len(data)]) + data


def _read_lenenc(data: bytes, at: int) -> tuple[bytes, int]:
    size = data[at]
    assert size < 251
    return data[at + 1 : at + 1 + size], at + 1 + size


class MyStandIn(StandInServer):
    """Enough of a MySQL server for PyMySQL's sign-in and `SELECT 1`: a handshake offering TLS
    (`tls`, else none), then an auth switch to mysql_clear_password, as RDS's
    AWSAuthenticationPlugin asks, then an OK for any statement but a SELECT, which gets one row
    holding 1. Each session records its `statements`."""

    family = "mysql"

    def _session(self, sock: socket.socket, session: dict[str, Any]) -> None:
        capabilities = CAPABILITIES | (CLIENT_SSL if self.tls else 0)
        salt = b"0123456789abcdefghij"
        handshake = (
            b"\x0a8.0.36-stand-in\x00"
            + struct.pack("<I", 7)
            + salt[:8]
            + b"\x00"
            + struct.pack("<H", capabilities & 0xFFFF)
            + bytes([45])  # utf8mb4_general_ci
            + struct.pack("<H", AUTOCOMMIT)
            + struct.pack("<H", capabilities >> 16)
            + bytes([21])
            + bytes(10)
            + salt[8:]
            + b"\x00mysql_native_password\x00"
        )
        _send(sock, 0, handshake)
        sequence, packet = _receive(sock)
        if not packet:
            session["after_refusal"] = b""  # hung up, sent nothing plain
            return
        if self.tls is None or len(packet) == 32:  # an SSL request: flags, size, charset, zeros
            session["first_packet"] = packet
            if self.tls is None:
                return
            sock = self.tls.wrap_socket(sock, server_side=True)
            session["tls"] = True
            sequence, packet = _receive(sock)
        at = 32
        user_end = packet.index(b"\x00", at)
        session["user"] = packet[at:user_end].decode()
        _, at = _read_lenenc(packet, user_end + 1)  # the scramble for mysql_native_password
        database_end = packet.index(b"\x00", at)
        session["database"] = packet[at:database_end].decode()
        _send(sock, sequence + 1, b"\xfemysql_clear_password\x00")
        sequence, password = _receive(sock)
        session["password"] = password.rstrip(b"\x00").decode()
        _send(sock, sequence + 1, _ok())
        while True:
            _, command = _receive(sock)
            if command[:1] != b"\x03":  # COM_QUIT, or anything else: the session ends
                return
            statement = command[1:].decode()
            session.setdefault("statements", []).append(statement)
            if statement.upper().startswith("SELECT"):
                _send_one_row(sock)
            else:
                _send(sock, 1, _ok())


def _send(sock: socket.socket, sequence: int, payload: bytes) -> None:
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([sequence % 256]) + payload)


def _receive(sock: socket.socket) -> tuple[int, bytes]:
    header = _read(sock, 4)
    if len(header) < 4:
        return 0, b""
    size = int.from_bytes(header[:3], "little")
    return header[3], _read(sock, size)


def _ok() -> bytes:
    return b"\x00\x00\x00" + struct.pack("<HH", AUTOCOMMIT, 0)


def _send_one_row(sock: socket.socket) -> None:
    """A result set: one BIGINT column `1`, one row holding 1 (EOF packets, no DEPRECATE_EOF)."""
    column = (
        b"".join(_lenenc(text) for text in (b"def", b"", b"", b"", b"1", b""))
        + b"\x0c"
        + struct.pack("<HIBHB", 63, 1, 8, 0x81, 0)  # binary charset, length, LONGLONG, flags
        + b"\x00\x00"
    )
    eof = b"\xfe\x00\x00" + struct.pack("<H", AUTOCOMMIT)
    for sequence, payload in enumerate((b"\x01", column, eof, _lenenc(b"1"), eof), start=1):
        _send(sock, sequence, payload)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a certificate it signed for `localhost` (PEM files)."""
    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(keys[0].public_key())
    builder = x509.CertificateBuilder(issuer_name=ca_name).not_valid_before(now)
    builder = builder.not_valid_after(now + datetime.timedelta(days=1))
    ca = (
        builder.subject_name(ca_name)
        .serial_number(1)
        .public_key(keys[0].public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(ski, critical=False)
        .sign(keys[0], hashes.SHA256())
    )
    leaf = (
        builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .serial_number(2)
        .public_key(keys[1].public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(keys[0], hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key")}
    files["ca"].write_bytes(ca.public_bytes(pem))
    files["cert"].write_bytes(leaf.public_bytes(pem))
    files["key"].write_bytes(
        keys[1].private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


STAND_INS: dict[str, type[StandInServer]] = {"postgresql": PgStandIn, "mysql": MyStandIn}
BOTH = pytest.mark.parametrize("stand_in", ["postgresql", "mysql"], indirect=True)


@pytest.fixture
def stand_in(
    certificates: dict[str, Path], request: pytest.FixtureRequest
) -> Iterator[StandInServer]:
    """A PostgreSQL one with TLS; ``@pytest.mark.parametrize("stand_in", [...], indirect=True)``
    for "mysql", and for "<family>-plain" (no TLS) or "<family>-silent"."""
    family, _, kind = str(getattr(request, "param", "postgresql")).partition("-")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificates["cert"], certificates["key"])
    server = STAND_INS[family](None if kind == "plain" else tls, silent=kind == "silent")
    yield server
    server.close()


def _database(
    host: str, stand_in: StandInServer, sslmode: str, statement_timeout_ms: int = 5000
) -> db.Database:
    """Connects to the stand-in within 1 s, as its engine family; the token is `TOKEN`."""
    settings = db.DatabaseSettings(
        host, stand_in.port, "items", "app_api", sslmode, REGION, statement_timeout_ms, 1,
        engine_family=stand_in.family,
    )  # fmt: skip
    return db.Database(settings, db.AuthTokenCache(lambda: TOKEN))


def _ping(database: db.Database) -> bool:
    try:
        return database.run(items.ping)
    finally:
        database.close()


SIGNED_IN_AS: dict[str, dict[str, object]] = {
    "postgresql": {
        "startup": {"user": "app_api", "database": "items", "application_name": "items-api"}
    },
    "mysql": {
        "user": "app_api",
        "database": "items",
        "statements": ["SET NAMES utf8mb4", "SELECT /*+ MAX_EXECUTION_TIME(5000) */ 1"],
    },
}
"""What each stand-in saw besides the token. PostgreSQL: a startup message without `options`
(RDS Proxy refuses them). MySQL: then only statements, PyMySQL's SET NAMES (a variable RDS Proxy
tracks) and the ping with its time limit."""


@BOTH
@pytest.mark.parametrize("sslmode", ["verify-full", "require"])
def test_the_token_goes_only_inside_tls_as_the_cleartext_password_rds_asks_for(
    stand_in: StandInServer,
    certificates: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    sslmode: str,
) -> None:
    """verify-full trusts certifi's CAs (here: the test's CA instead) and checks the name."""
    monkeypatch.setattr(certifi, "where", lambda: str(certificates["ca"]))

    assert _ping(_database("localhost", stand_in, sslmode)) is True

    [session] = stand_in.wait_for_sessions(1)
    assert (session["tls"], session["password"]) == (True, TOKEN)
    expected = SIGNED_IN_AS[stand_in.family]
    assert {key: session.get(key) for key in expected} == expected


@BOTH
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["other-name", "unknown-ca"])
def test_verify_full_refuses_a_certificate_for_another_name_or_from_an_unknown_ca(
    stand_in: StandInServer,
    certificates: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    host: str,
) -> None:
    if host != "localhost":  # the test's CA is trusted: only the name is wrong
        monkeypatch.setattr(certifi, "where", lambda: str(certificates["ca"]))

    with pytest.raises(db.DatabaseUnavailableError):
        _ping(_database(host, stand_in, "verify-full"))

    assert [session.get("password") for session in stand_in.wait_for_sessions(1)] == [None]
    assert _ping(_database(host, stand_in, "require")) is True  # encrypted, unverified


@pytest.mark.parametrize("stand_in", ["postgresql-plain", "mysql-plain"], indirect=True)
def test_a_server_without_tls_is_refused_never_sent_the_token_in_plain(
    stand_in: StandInServer,
) -> None:
    with pytest.raises(db.DatabaseUnavailableError):
        _ping(_database("127.0.0.1", stand_in, "require"))

    assert stand_in.wait_for_sessions(1) == [{"tls": False, "after_refusal": b""}]


@pytest.mark.parametrize("stand_in", ["postgresql-silent"], indirect=True)
def test_a_server_that_stops_answering_is_given_up_after_the_statement_timeout(
    stand_in: StandInServer,
) -> None:
    """Read timeout: statement timeout plus connect timeout (1 s), then one reconnect. (MySQL's
    read timeout on a real server: test_api_mysql.)"""
    started = time.monotonic()
    with pytest.raises(db.DatabaseUnavailableError):
        _ping(_database("127.0.0.1", stand_in, "require", statement_timeout_ms=100))

    assert 2.2 <= time.monotonic() - started < 5
    assert len(stand_in.sessions) == 2
