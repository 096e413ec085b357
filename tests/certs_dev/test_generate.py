"""Tests for certs-dev/generate.py: development certificates for mutual TLS."""

import datetime as dt
import importlib.util
import ipaddress
import os
import socket
import ssl
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store

SCRIPT = Path(__file__).resolve().parents[2] / "certs-dev" / "generate.py"
MODULE_NAME = "certs_dev_generate"
CA_CN = "Consent Gateway Development CA — NOT FOR PRODUCTION"
DEFAULT_CLIENTS = ("jobcenter-landkreis-heilbronn", "gateway-client")
TIMEOUT = 3.0  # seconds; every socket operation and thread join is bounded by this


def _load_generate_module() -> ModuleType:
    # certs-dev is not a valid package name, so the script is loaded from its file.
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generate_module()


# --------------------------------------------------------------------------- helpers


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _verify_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    """Raise InvalidSignature unless ``cert`` carries a valid signature of ``ca``'s key."""
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    hash_algorithm = cert.signature_hash_algorithm
    assert hash_algorithm is not None
    ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_algorithm))


def _eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _all_paths(certs: Any) -> list[Path]:
    paths = [certs.ca_cert, certs.ca_key, certs.server_cert, certs.server_key]
    for client in certs.clients:
        paths += [client.cert, client.key]
    return paths


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return gen.generate(tmp_path_factory.mktemp("certs"), clients=DEFAULT_CLIENTS)


@pytest.fixture(scope="module")
def foreign_certs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A complete second set from an unrelated, freshly generated CA."""
    return gen.generate(tmp_path_factory.mktemp("foreign"), clients=["gateway-client"])


# --------------------------------------------------------------------------- files, CA


def test_generate_creates_all_files(certs: Any) -> None:
    expected = {
        "ca.pem",
        "ca-key.pem",
        "server.pem",
        "server-key.pem",
        "client-jobcenter-landkreis-heilbronn.pem",
        "client-jobcenter-landkreis-heilbronn-key.pem",
        "client-gateway-client.pem",
        "client-gateway-client-key.pem",
    }
    assert {p.name for p in certs.out_dir.iterdir()} == expected  # no temp files left behind
    assert {p.name for p in _all_paths(certs)} == expected
    assert [c.name for c in certs.clients] == list(DEFAULT_CLIENTS)
    assert certs.client("gateway-client").cert.name == "client-gateway-client.pem"
    with pytest.raises(KeyError):
        certs.client("unknown")


def test_private_keys_are_unencrypted_pkcs8_p256_with_mode_0600(certs: Any) -> None:
    keys = [certs.ca_key, certs.server_key, *(c.key for c in certs.clients)]
    for key_path in keys:
        assert _mode(key_path) == 0o600, key_path
        pem = key_path.read_bytes()
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n"), key_path  # PKCS8, unencrypted
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert isinstance(key.curve, ec.SECP256R1)
    for cert_path in [certs.ca_cert, certs.server_cert, *(c.cert for c in certs.clients)]:
        assert _mode(cert_path) == 0o644, cert_path


def test_certificates_match_their_keys(certs: Any) -> None:
    pairs = [(certs.ca_cert, certs.ca_key), (certs.server_cert, certs.server_key)]
    pairs += [(c.cert, c.key) for c in certs.clients]
    for cert_path, key_path in pairs:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert _cert(cert_path).public_key() == key.public_key(), cert_path


def test_ca_certificate(certs: Any) -> None:
    ca = _cert(certs.ca_cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_CN
    assert ca.issuer == ca.subject
    _verify_signed_by(ca, ca)  # self-signed
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)

    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca is True
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature

    validity = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert validity == gen.CA_VALIDITY
    assert dt.timedelta(days=5 * 365) <= validity <= dt.timedelta(days=5 * 365 + 2)


# --------------------------------------------------------------------------- leaves


def test_server_certificate_chains_to_ca(certs: Any, foreign_certs: Any) -> None:
    ca = _cert(certs.ca_cert)
    server = _cert(certs.server_cert)
    assert server.issuer == ca.subject
    _verify_signed_by(server, ca)
    server.verify_directly_issued_by(ca)
    aki = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    # ... and not to another CA, even though that one has the same name.
    foreign_ca = _cert(foreign_certs.ca_cert)
    assert foreign_ca.subject == ca.subject
    with pytest.raises(InvalidSignature):
        _verify_signed_by(server, foreign_ca)


def test_server_certificate_names_and_usage(certs: Any) -> None:
    server = _cert(certs.server_cert)
    assert server.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "localhost"
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert _eku(server) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_client_certificates_names_and_usage(certs: Any) -> None:
    ca = _cert(certs.ca_cert)
    for client in certs.clients:
        cert = _cert(client.cert)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == client.name
        assert _eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        _verify_signed_by(cert, ca)


def test_leaf_validity_is_825_days_and_current(certs: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    ca = _cert(certs.ca_cert)
    for path in [certs.server_cert, *(c.cert for c in certs.clients)]:
        cert = _cert(path)
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=825)
        assert now - dt.timedelta(hours=1) < cert.not_valid_before_utc <= now
        assert cert.not_valid_after_utc <= ca.not_valid_after_utc


def test_chains_pass_strict_x509_path_validation(certs: Any) -> None:
    store = Store([_cert(certs.ca_cert)])
    server = _cert(certs.server_cert)
    names: list[x509.DNSName | x509.IPAddress] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    for name in names:
        chain = PolicyBuilder().store(store).build_server_verifier(name).verify(server, [])
        assert chain[-1] == _cert(certs.ca_cert)
    verifier = PolicyBuilder().store(store).build_client_verifier()
    for client in certs.clients:
        verified = verifier.verify(_cert(client.cert), [])
        assert verified.subjects == [x509.DNSName(client.name)]


# --------------------------------------------------------------------------- idempotence


def test_second_run_keeps_files_byte_for_byte(tmp_path: Path) -> None:
    first = gen.generate(tmp_path, clients=DEFAULT_CLIENTS)
    assert set(first.created) == {
        first.ca_cert,
        first.server_cert,
        *(c.cert for c in first.clients),
    }
    before = _snapshot(tmp_path)

    second = gen.generate(tmp_path, clients=DEFAULT_CLIENTS)

    assert second.created == ()
    assert _snapshot(tmp_path) == before
    assert second == gen.DevCertificates(
        out_dir=first.out_dir,
        ca_cert=first.ca_cert,
        ca_key=first.ca_key,
        server_cert=first.server_cert,
        server_key=first.server_key,
        clients=first.clients,
    )


def test_force_replaces_everything(tmp_path: Path) -> None:
    gen.generate(tmp_path, clients=DEFAULT_CLIENTS)
    before = _snapshot(tmp_path)

    result = gen.generate(tmp_path, clients=DEFAULT_CLIENTS, force=True)

    after = _snapshot(tmp_path)
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    assert len(result.created) == 4
    new_ca = _cert(result.ca_cert)
    _verify_signed_by(_cert(result.server_cert), new_ca)
    for path in _all_paths(result):
        if path.name.endswith("-key.pem"):
            assert _mode(path) == 0o600


def test_existing_ca_is_reused_for_missing_leaves(tmp_path: Path) -> None:
    gen.generate(tmp_path, clients=["gateway-client"])
    before = _snapshot(tmp_path)
    (tmp_path / "server.pem").unlink()

    result = gen.generate(tmp_path, clients=["gateway-client", "jobcenter-stadt-ulm"])

    after = _snapshot(tmp_path)
    assert result.created == (result.server_cert, result.client("jobcenter-stadt-ulm").cert)
    for name in ["ca.pem", "ca-key.pem", "client-gateway-client.pem"]:
        assert after[name] == before[name]
    assert after["server-key.pem"] != before["server-key.pem"]  # never a new cert for an old key
    ca = _cert(result.ca_cert)
    _verify_signed_by(_cert(result.server_cert), ca)
    _verify_signed_by(_cert(result.client("jobcenter-stadt-ulm").cert), ca)


def test_new_ca_reissues_leaves_of_the_old_ca(tmp_path: Path) -> None:
    gen.generate(tmp_path, clients=["gateway-client"])
    before = _snapshot(tmp_path)
    (tmp_path / "ca.pem").unlink()
    (tmp_path / "ca-key.pem").unlink()

    result = gen.generate(tmp_path, clients=["gateway-client"])

    after = _snapshot(tmp_path)
    assert all(after[name] != before[name] for name in before)
    ca = _cert(result.ca_cert)
    _verify_signed_by(_cert(result.server_cert), ca)
    _verify_signed_by(_cert(result.client("gateway-client").cert), ca)


def test_loosened_key_mode_is_restored_without_rewriting(tmp_path: Path) -> None:
    result = gen.generate(tmp_path, clients=["gateway-client"])
    os.chmod(result.server_key, 0o644)
    before = _snapshot(tmp_path)

    gen.generate(tmp_path, clients=["gateway-client"])

    assert _mode(result.server_key) == 0o600
    assert _snapshot(tmp_path) == before


# --------------------------------------------------------------------------- CLI, input checks


def test_cli_defaults_and_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert (tmp_path / "client-jobcenter-landkreis-heilbronn.pem").is_file()
    assert (tmp_path / "client-gateway-client-key.pem").is_file()
    assert "created" in capsys.readouterr().out
    before = _snapshot(tmp_path)

    assert gen.main(["--out", str(tmp_path)]) == 0
    assert "created" not in capsys.readouterr().out
    assert _snapshot(tmp_path) == before

    assert gen.main(["--out", str(tmp_path), "--client", "a", "--client", "b", "--force"]) == 0
    after = _snapshot(tmp_path)
    assert {"client-a.pem", "client-b-key.pem"} <= after.keys()
    assert after["ca.pem"] != before["ca.pem"]


def test_cli_default_output_is_script_directory() -> None:
    args = gen._parser().parse_args([])
    assert args.out == SCRIPT.parent
    assert args.clients is None
    assert args.force is False


@pytest.mark.parametrize("name", ["", "../evil", "a/b", "Upper", "under_score", "-x", "a" * 65])
def test_invalid_client_names_are_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid client name"):
        gen.generate(tmp_path, clients=[name])
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_invalid_client_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        gen.main(["--out", str(tmp_path), "--client", "../evil"])
    assert excinfo.value.code == 2
    assert "invalid client name" in capsys.readouterr().err


def test_single_string_is_not_taken_as_client_list(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="sequence of names"):
        gen.generate(tmp_path, clients="gateway-client")


# --------------------------------------------------------------------------- mutual TLS


@dataclass
class _ServerOutcome:
    peer_cn: str | None = None
    error: BaseException | None = None


def _server_context(certs: Any) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_verify_locations(cafile=certs.ca_cert)
    ctx.load_cert_chain(certfile=certs.server_cert, keyfile=certs.server_key)
    return ctx


def _client_context(
    ca_cert: Path, cert: Path | None = None, key: Path | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_cert)
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    if cert is not None:
        ctx.load_cert_chain(certfile=cert, keyfile=key)
    return ctx


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        sock.settimeout(TIMEOUT)
        yield sock


def _handshake(
    listener: socket.socket,
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    server_hostname: str = "localhost",
) -> tuple[_ServerOutcome, bytes | OSError]:
    """Run one TLS connection over loopback; return the server's and the client's outcome."""
    outcome = _ServerOutcome()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    peer = tls.getpeercert(binary_form=True)
                    assert peer is not None
                    subject = x509.load_der_x509_certificate(peer).subject
                    outcome.peer_cn = str(
                        subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
                    )
                    if tls.recv(4) == b"ping":
                        tls.sendall(b"pong")
        except Exception as exc:  # reported to the test via outcome
            outcome.error = exc

    thread = threading.Thread(target=serve, name="mtls-test-server", daemon=True)
    thread.start()
    client_result: bytes | OSError
    try:
        with (
            socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT) as raw,
            client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
        ):
            tls.sendall(b"ping")
            client_result = tls.recv(4)
    except OSError as exc:  # ssl.SSLError, resets and timeouts are all OSErrors
        client_result = exc
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "TLS server thread did not finish"
    return outcome, client_result


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
@pytest.mark.parametrize("client_name", DEFAULT_CLIENTS)
def test_mutual_tls_handshake_with_client_certificate(
    certs: Any, listener: socket.socket, server_hostname: str, client_name: str
) -> None:
    client = certs.client(client_name)
    outcome, client_result = _handshake(
        listener,
        _server_context(certs),
        _client_context(certs.ca_cert, client.cert, client.key),
        server_hostname,
    )
    assert outcome.error is None
    assert outcome.peer_cn == client_name
    assert client_result == b"pong"


def test_mutual_tls_rejects_client_without_certificate(certs: Any, listener: socket.socket) -> None:
    outcome, client_result = _handshake(
        listener, _server_context(certs), _client_context(certs.ca_cert)
    )
    assert isinstance(outcome.error, ssl.SSLError)
    assert "certificate" in str(outcome.error).lower()
    assert outcome.peer_cn is None
    assert client_result != b"pong"


def test_mutual_tls_rejects_client_certificate_of_another_ca(
    certs: Any, foreign_certs: Any, listener: socket.socket
) -> None:
    foreign = foreign_certs.client("gateway-client")
    outcome, client_result = _handshake(
        listener,
        _server_context(certs),
        _client_context(certs.ca_cert, foreign.cert, foreign.key),
    )
    assert isinstance(outcome.error, ssl.SSLCertVerificationError)
    assert outcome.peer_cn is None
    assert client_result != b"pong"


def test_mutual_tls_rejects_server_certificate_used_as_client_certificate(
    certs: Any, listener: socket.socket
) -> None:
    outcome, client_result = _handshake(
        listener,
        _server_context(certs),
        _client_context(certs.ca_cert, certs.server_cert, certs.server_key),
    )
    assert isinstance(outcome.error, ssl.SSLCertVerificationError)  # EKU is serverAuth only
    assert client_result != b"pong"


def test_client_rejects_server_for_other_hostname(certs: Any, listener: socket.socket) -> None:
    client = certs.client("gateway-client")
    outcome, client_result = _handshake(
        listener,
        _server_context(certs),
        _client_context(certs.ca_cert, client.cert, client.key),
        server_hostname="gateway.example.org",
    )
    assert isinstance(client_result, ssl.SSLCertVerificationError)
    assert isinstance(outcome.error, ssl.SSLError)


def test_client_rejects_server_of_another_ca(
    certs: Any, foreign_certs: Any, listener: socket.socket
) -> None:
    client = certs.client("gateway-client")
    outcome, client_result = _handshake(
        listener,
        _server_context(foreign_certs),
        _client_context(certs.ca_cert, client.cert, client.key),
    )
    assert isinstance(client_result, ssl.SSLCertVerificationError)
    assert isinstance(outcome.error, ssl.SSLError)
