"""Checking a consent's evidence for the people who rely on it.

Two checks, both shown next to the consent summary: the signature drawn on
screen is opened from its sealed copy and its SHA-256 compared with the hash
recorded on the consent (and on the audit trail); the consent receipt is
signed and its JWS verified against the gateway's published receipt keys
(the JWKS), exactly as anyone holding the printed receipt could.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from joserfc import jws
from joserfc.errors import JoseError
from sqlmodel import Session

from gateway.bootstrap import Container
from gateway.consents.models import Consent
from gateway.consents.receipt_reading import sign_receipt
from gateway.keys import KeyPurpose
from gateway.sealing import SealingError

RECEIPT_ALGORITHMS = ["Ed25519", "EdDSA"]


@dataclass(frozen=True)
class EvidenceCheck:
    signature: str  # "verified", "mismatch" or "none"
    receipt_verified: bool
    receipt_kid: str | None
    representative: str | None = None  # the relation, when a legal representative consented


def signature_png(container: Container, consent: Consent) -> bytes | None:
    """The drawn signature, for callers that ``consents.get`` already authorised."""
    if consent.attachment_sealed is None or consent.attachment_media_type != "image/png":
        return None
    try:
        return container.sealer.open(
            consent.attachment_sealed, context=f"consents/{consent.id}/attachment"
        )
    except SealingError:
        return None


def check(container: Container, session: Session, consent: Consent) -> EvidenceCheck:
    signature = "none"
    if consent.attachment_sha256:
        data = signature_png(container, consent)
        matches = data is not None and hashlib.sha256(data).hexdigest() == consent.attachment_sha256
        signature = "verified" if matches else "mismatch"
    signed = sign_receipt(
        session,
        consents=container.consents,
        keys=container.keys,
        issuer=container.settings.issuer,
        consent=consent,
    )
    try:
        jws.deserialize_compact(
            signed.jws,
            container.keys.verification_keys(KeyPurpose.RECEIPT),
            algorithms=RECEIPT_ALGORITHMS,
        )
        verified = True
    except (JoseError, ValueError):
        verified = False
    return EvidenceCheck(
        signature=signature,
        receipt_verified=verified,
        receipt_kid=signed.kid,
        representative=container.consents.given_by(consent).get("relation"),
    )
