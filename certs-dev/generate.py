#!/usr/bin/env python3
"""Generate development certificates for mutual TLS.

DEVELOPMENT AND TESTS ONLY. The keys written by this script are unencrypted and
the CA is trusted by nothing but local test setups. Never use them in production.

Creates, in an output directory (default: the directory of this script):

* ``ca.pem`` / ``ca-key.pem``: a development CA (EC P-256, 5 years),
* ``server.pem`` / ``server-key.pem``: a server certificate for localhost
  (SAN DNS:localhost, IP:127.0.0.1, IP:::1; extendedKeyUsage serverAuth; 825 days),
* ``client-NAME.pem`` / ``client-NAME-key.pem`` for every ``--client NAME``
  (CN=NAME, SAN DNS:NAME; extendedKeyUsage clientAuth; 825 days). NAME is a
  lowercase DNS-style name such as ``jobcenter-landkreis-heilbronn``.

The script is idempotent: an existing, usable CA is reused and existing leaf
certificates issued by it are kept, unless ``--force`` is given. Leaf
certificates that are missing, expired, unreadable or not issued by the current
CA are (re)generated.

Usage::

    .venv/bin/python certs-dev/generate.py [--out DIR] [--client NAME ...] [--force]

Only the standard library and ``cryptography`` are used, so the module can be
loaded from its file path (``certs-dev`` is not an importable package name).
"""

import argparse
import datetime as dt
import ipaddress
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_COMMON_NAME",
    "CA_VALIDITY",
    "DEFAULT_CLIENTS",
    "LEAF_VALIDITY",
    "ClientCertificate",
    "DevCertificates",
    "generate",
    "main",
]

CA_COMMON_NAME = "Consent Gateway Development CA — NOT FOR PRODUCTION"
ORGANIZATION = "Consent Gateway (development)"
SERVER_COMMON_NAME = "localhost"
SERVER_DNS_NAMES: tuple[str, ...] = ("localhost",)
SERVER_IP_ADDRESSES: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = (
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv6Address("::1"),
)
DEFAULT_CLIENTS: tuple[str, ...] = ("jobcenter-landkreis-heilbronn", "gateway-client")

CA_VALIDITY = dt.timedelta(days=5 * 365 + 1)  # five years, including one leap day
LEAF_VALIDITY = dt.timedelta(days=825)  # the maximum that Apple platforms accept for TLS
# Backdating notBefore tolerates small clock differences between machines/containers.
CLOCK_SKEW = dt.timedelta(minutes=5)

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"

KEY_FILE_MODE = 0o600
CERT_FILE_MODE = 0o644

# A client name is a lowercase DNS name (it becomes CN and SAN DNS:NAME and part of file names).
_DNS_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_CLIENT_NAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_CLIENT_NAME_MAX = 64  # upper bound of an X.509 commonName


@dataclass(frozen=True)
class ClientCertificate:
    """Paths of one client certificate and its private key."""

    name: str
    cert: Path
    key: Path


@dataclass(frozen=True)
class DevCertificates:
    """Paths of all generated development certificates and keys."""

    out_dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    clients: tuple[ClientCertificate, ...]
    #: Certificate files that were (re)written by this run; empty if everything was reused.
    created: tuple[Path, ...] = ()

    def client(self, name: str) -> ClientCertificate:
        """Return the client certificate named ``name``."""
        for client in self.clients:
            if client.name == name:
                return client
        raise KeyError(name)


@dataclass(frozen=True)
class _Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def validate_client_name(name: str) -> str:
    """Return ``name`` if it is usable as CN and in a file name, else raise ``ValueError``."""
    if len(name) > _CLIENT_NAME_MAX or not _CLIENT_NAME.fullmatch(name):
        raise ValueError(
            f"invalid client name {name!r}: use a lowercase DNS-style name of at most "
            f"{_CLIENT_NAME_MAX} characters (a-z, 0-9, '-', labels separated by '.')"
        )
    return name


def client_cert_file(name: str) -> str:
    return f"client-{name}.pem"


def client_key_file(name: str) -> str:
    return f"client-{name}-key.pem"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` via a temporary file, so readers never see partial files.

    The temporary file is created with mode 0600 (``mkstemp``), so a private key is
    never readable by others, not even briefly; it then gets ``mode`` and replaces ``path``.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    _write_atomic(path, pem, KEY_FILE_MODE)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), CERT_FILE_MODE)


def _restrict_key_mode(path: Path) -> None:
    """Make a reused private key file 0600 again if its mode was loosened."""
    if path.stat().st_mode & 0o777 != KEY_FILE_MODE:
        os.chmod(path, KEY_FILE_MODE)


def _load_pair(cert_path: Path, key_path: Path) -> _Issuer | None:
    """Load a certificate and its EC private key; ``None`` if missing, unreadable or mismatched."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.public_key() != key.public_key():
        return None
    return _Issuer(cert=cert, key=key)


def _is_current(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _build_ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = _name(CA_COMMON_NAME)
    public_key = key.public_key()
    not_before = now - CLOCK_SKEW
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _build_leaf(
    issuer: _Issuer,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    san: Sequence[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    now: dt.datetime,
) -> x509.Certificate:
    public_key = key.public_key()
    not_before = now - CLOCK_SKEW
    # A leaf never outlives its issuer (relevant when an older CA is reused).
    not_after = min(not_before + LEAF_VALIDITY, issuer.cert.not_valid_after_utc)
    try:
        ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(san)), critical=False)
    return builder.sign(issuer.key, hashes.SHA256())


def _ensure_ca(out_dir: Path, *, force: bool, now: dt.datetime, created: list[Path]) -> _Issuer:
    cert_path, key_path = out_dir / CA_CERT_FILE, out_dir / CA_KEY_FILE
    if not force:
        existing = _load_pair(cert_path, key_path)
        if existing is not None and _is_current(existing.cert, now) and _is_ca(existing.cert):
            _restrict_key_mode(key_path)
            return existing
    key = _new_key()
    cert = _build_ca(key, now)
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    created.append(cert_path)
    return _Issuer(cert=cert, key=key)


def _ensure_leaf(
    cert_path: Path,
    key_path: Path,
    issuer: _Issuer,
    common_name: str,
    san: Sequence[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    *,
    force: bool,
    now: dt.datetime,
    created: list[Path],
) -> None:
    if not force:
        existing = _load_pair(cert_path, key_path)
        if (
            existing is not None
            and _is_current(existing.cert, now)
            and _issued_by(existing.cert, issuer.cert)
        ):
            _restrict_key_mode(key_path)
            return
    key = _new_key()
    cert = _build_leaf(issuer, key, common_name, san, usage, now)
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    created.append(cert_path)


def generate(
    out_dir: Path, *, clients: Sequence[str] = DEFAULT_CLIENTS, force: bool = False
) -> DevCertificates:
    """Create (or reuse) the development CA, the localhost server and the client certificates.

    Without ``force``, a usable CA in ``out_dir`` is reused and leaf certificates that are
    still valid and issued by that CA are kept unchanged. With ``force``, everything is
    regenerated. Returns the paths of all files.
    """
    if isinstance(clients, str):
        raise TypeError("clients must be a sequence of names, not a single string")
    names = tuple(dict.fromkeys(validate_client_name(name) for name in clients))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = _now()
    created: list[Path] = []

    ca = _ensure_ca(out_dir, force=force, now=now, created=created)

    server_san: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVER_DNS_NAMES]
    server_san += [x509.IPAddress(address) for address in SERVER_IP_ADDRESSES]
    _ensure_leaf(
        out_dir / SERVER_CERT_FILE,
        out_dir / SERVER_KEY_FILE,
        ca,
        SERVER_COMMON_NAME,
        server_san,
        ExtendedKeyUsageOID.SERVER_AUTH,
        force=force,
        now=now,
        created=created,
    )

    client_paths: list[ClientCertificate] = []
    for name in names:
        paths = ClientCertificate(
            name=name, cert=out_dir / client_cert_file(name), key=out_dir / client_key_file(name)
        )
        _ensure_leaf(
            paths.cert,
            paths.key,
            ca,
            name,
            # Strict (RFC 5280 / CA/B-style) verifiers require a SAN; it mirrors the CN.
            [x509.DNSName(name)],
            ExtendedKeyUsageOID.CLIENT_AUTH,
            force=force,
            now=now,
            created=created,
        )
        client_paths.append(paths)

    return DevCertificates(
        out_dir=out_dir,
        ca_cert=out_dir / CA_CERT_FILE,
        ca_key=out_dir / CA_KEY_FILE,
        server_cert=out_dir / SERVER_CERT_FILE,
        server_key=out_dir / SERVER_KEY_FILE,
        clients=tuple(client_paths),
        created=tuple(created),
    )


def _client_name_arg(value: str) -> str:
    try:
        return validate_client_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Generate development certificates for mutual TLS "
            "(DEVELOPMENT AND TESTS ONLY, never production)."
        )
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="output directory (default: the directory of this script)",
    )
    parser.add_argument(
        "--client",
        metavar="NAME",
        dest="clients",
        action="append",
        type=_client_name_arg,
        default=None,
        help=f"client certificate to create; repeatable (default: {', '.join(DEFAULT_CLIENTS)})",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="regenerate the CA and all certificates even if they exist",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out_dir: Path = args.out
    clients: list[str] | None = args.clients
    result = generate(
        out_dir, clients=DEFAULT_CLIENTS if clients is None else clients, force=args.force
    )
    rows: list[tuple[Path, Path]] = [
        (result.ca_cert, result.ca_key),
        (result.server_cert, result.server_key),
    ]
    rows += [(client.cert, client.key) for client in result.clients]
    for cert_path, key_path in rows:
        status = "created" if cert_path in result.created else "kept   "
        print(f"{status} {cert_path} (key: {key_path.name})")
    print("Development certificates only - never use them in production.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
