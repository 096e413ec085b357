"""Consent receipts: a compact JWS anyone can verify with the JWKS, and a printable page.

The JWS (EdDSA over Ed25519, JOSE alg ``Ed25519``, ``typ: consent-receipt+jws``)
covers the consent's essentials with the subject's pseudonym, never a name.
The printable page is in the person's language (right-to-left where needed)
and carries the self-service code as text and as a QR code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from joserfc import jws
from markupsafe import Markup

from gateway.audit.rfc8785 import canonical_bytes
from gateway.clock import as_utc
from gateway.consents.models import Consent
from gateway.consents.texts import ConsentTexts
from gateway.keys import KeyPurpose, KeyStore
from gateway.organisations.models import Organisation
from gateway.policy.models import Catalogue

TEMPLATES = Path(__file__).resolve().parent / "templates"
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
)


@dataclass(frozen=True)
class Receipt:
    jws: str
    payload: dict[str, Any]
    kid: str


def payload(
    *,
    consent: Consent,
    issuer: str,
    grantee: Organisation,
    jobcenter: Organisation,
    given_by: dict[str, str],
) -> dict[str, Any]:
    """The receipt's claims; ``given_by`` is the person, or a legal representative's
    relation (never their name)."""
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "consent_id": consent.id,
        "version": consent.version,
        "previous_id": consent.previous_id,
        "status": consent.status.value,
        "subject": consent.subject_id,
        "grantee": {"id": grantee.id, "name": grantee.name, "key": grantee.official_key},
        "jobcenter": {"id": jobcenter.id, "name": jobcenter.name, "key": jobcenter.official_key},
        "purposes": consent.purposes,
        "categories": consent.categories,
        "explicit_special_categories": consent.explicit_special_categories,
        "directions": consent.directions,
        "valid_from": as_utc(consent.valid_from).isoformat(),
        "valid_until": as_utc(consent.valid_until).isoformat(),
        "language": consent.language,
        "text_version": consent.text_version,
        "text_sha256": consent.text_sha256,
        "evidence_channel": consent.evidence_channel.value,
        "given_by": given_by,
        "attachment_sha256": consent.attachment_sha256,
        "recorded_at": as_utc(consent.recorded_at).isoformat(),
    }


def sign(*, keys: KeyStore, claims: dict[str, Any]) -> Receipt:
    key = keys.active(KeyPurpose.RECEIPT)
    token = jws.serialize_compact(
        {"alg": key.alg, "kid": key.kid, "typ": "consent-receipt+jws"},
        canonical_bytes(claims),
        key.jwk,
        algorithms=[key.alg],
    )
    return Receipt(jws=token, payload=claims, kid=key.kid)


def qr_svg(url: str) -> Markup:
    svg = segno.make(url, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    return Markup(svg)  # noqa: S704 - segno's own SVG, built from our URL only


def render_html(
    *,
    receipt: Receipt,
    consent: Consent,
    texts: ConsentTexts,
    catalogue: Catalogue,
    self_service_code: str | None,
    self_service_url: str | None,
    verify_url: str,
) -> str:
    """The printable receipt; the self-service code and its QR code only where the
    reader may see the code (the rule ``self_service_code.recording_organisation``)."""
    text = texts.get(consent.language)
    language = consent.language
    labels = text.sections["receipt"]
    given_by = receipt.payload["given_by"]
    relation = given_by.get("relation")
    template = _environment.get_template("receipt.html")
    return template.render(
        lang=language,
        dir=text.direction,
        labels=labels,
        given_by=(
            labels["given_by_representative"].format(relation=labels["relations"][relation])
            if relation
            else labels["given_by_person"]
        ),
        status=labels["statuses"].get(receipt.payload["status"], receipt.payload["status"]),
        withdrawal=text.sections["withdrawal"],
        payload=receipt.payload,
        purposes=[catalogue.purposes[p].labels.get(language, p) for p in consent.purposes],
        categories=[catalogue.categories[c].labels.get(language, c) for c in consent.categories],
        valid_until=consent.valid_until,
        code=self_service_code,
        qr=qr_svg(self_service_url) if self_service_url else None,
        self_service_url=self_service_url,
        verify_url=verify_url,
        jws=receipt.jws,
        text_sha256=consent.text_sha256,
    )
