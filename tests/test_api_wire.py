"""The API's database driver on the wire, against a stand-in server: the IAM token goes only
over TLS, in a startup message RDS Proxy accepts; verify-full checks the CA and the name; a
server that refuses TLS or stops answering is given up."""

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


class StandIn:
    """Enough of PostgreSQL for pg8000's sign-in and `SELECT 1`, on 127.0.0.1, one session at a
    time: TLS when asked (`tls`, else it refuses it), then a cleartext password request (what
    RDS sends for IAM auth), then one row per statement of each Query (`silent`: no answer)."""

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
                with sock, contextlib.suppress(OSError, struct.error):
                    self._session(sock, session)
                self._ended.release()

    def wait_for_sessions(self, count: int) -> list[dict[str, Any]]:
        """The sessions, once ``count`` of them have ended on this side too (the client may
        hang up before this thread has recorded what it saw)."""
        for _ in range(count):
            assert self._ended.acquire(timeout=5), "the stand-in never saw the session end"
        return self.sessions

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

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


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


@pytest.fixture
def stand_in(certificates: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[StandIn]:
    """With TLS; `@pytest.mark.parametrize("stand_in", [...], indirect=True)` for "plain" or
    "silent"."""
    kind = getattr(request, "param", "tls")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(certificates["cert"], certificates["key"])
    server = StandIn(None if kind == "plain" else tls, silent=kind == "silent")
    yield server
    server.close()


def _database(host: str, port: int, sslmode: str, statement_timeout_ms: int = 5000) -> db.Database:
    """Connects within 1 s; the token is `TOKEN`."""
    settings = db.DatabaseSettings(
        host, port, "items", "app_api", sslmode, REGION, statement_timeout_ms, 1
    )
    return db.Database(settings, db.AuthTokenCache(lambda: TOKEN))


def _ping(database: db.Database) -> bool:
    try:
        return database.run(items.ping)
    finally:
        database.close()


@pytest.mark.parametrize("sslmode", ["verify-full", "require"])
def test_the_token_goes_over_tls_in_a_startup_message_rds_proxy_accepts(
    stand_in: StandIn, certificates: dict[str, Path], monkeypatch: pytest.MonkeyPatch, sslmode: str
) -> None:
    """No `options` (RDS Proxy refuses them); the token as the cleartext password RDS asks for;
    verify-full trusts certifi's CAs (here: the test's CA instead) and checks the host name."""
    monkeypatch.setattr(certifi, "where", lambda: str(certificates["ca"]))

    assert _ping(_database("localhost", stand_in.port, sslmode)) is True

    [session] = stand_in.sessions
    assert session["tls"] is True
    assert session["startup"] == {
        "user": "app_api",
        "database": "items",
        "application_name": "items-api",
    }
    assert session["password"] == TOKEN


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["other-name", "unknown-ca"])
def test_verify_full_refuses_a_certificate_for_another_name_or_from_an_unknown_ca(
    stand_in: StandIn, certificates: dict[str, Path], monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    if host != "localhost":  # the test's CA is trusted: only the name is wrong
        monkeypatch.setattr(certifi, "where", lambda: str(certificates["ca"]))

    with pytest.raises(db.DatabaseUnavailableError):
        _ping(_database(host, stand_in.port, "verify-full"))

    assert [session.get("password") for session in stand_in.sessions] == [None]
    assert _ping(_database(host, stand_in.port, "require")) is True  # encrypted, unverified


@pytest.mark.parametrize("stand_in", ["plain"], indirect=True)
def test_a_server_without_tls_is_refused_never_sent_the_token_in_plain(stand_in: StandIn) -> None:
    with pytest.raises(db.DatabaseUnavailableError):
        _ping(_database("127.0.0.1", stand_in.port, "require"))

    assert stand_in.wait_for_sessions(1) == [{"tls": False, "after_refusal": b""}]


@pytest.mark.parametrize("stand_in", ["silent"], indirect=True)
def test_a_server_that_stops_answering_is_given_up_after_the_statement_timeout(
    stand_in: StandIn,
) -> None:
    """Read timeout: statement timeout plus connect timeout (1 s), then one reconnect."""
    started = time.monotonic()
    with pytest.raises(db.DatabaseUnavailableError):
        _ping(_database("127.0.0.1", stand_in.port, "require", statement_timeout_ms=100))

    assert 2.2 <= time.monotonic() - started < 5
    assert len(stand_in.sessions) == 2
