"""Capturing a consent with the person: the terms form, the evidence, and the service's verdict.

Step one collects the terms (purposes, categories, jobcenter, directions,
validity, language, how the person gives evidence). Step two shows the exact
consent text in the person's language next to the German one and collects
the evidence: a signature drawn on screen (a PNG kept sealed with the
consent, its SHA-256 on the audit trail), a signature on paper, or a
confirmation on the person's own phone. The SHA-256 of the text shown travels
with the form, so the service refuses the consent if the text changed.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, col, select

from gateway.clock import utcnow
from gateway.consents.models import EvidenceChannel, RepresentativeRelation
from gateway.consents.schemas import (
    Attachment,
    ConsentCreate,
    Evidence,
    Interpreter,
    LegalRepresentative,
)
from gateway.consents.service import BERLIN, MAX_ATTACHMENT_BYTES
from gateway.errors import GatewayError
from gateway.organisations import repository as organisations
from gateway.organisations.models import Organisation, OrganisationKind
from gateway.policy.engine import PolicyEngine
from gateway.policy.models import Direction
from gateway.web.forms import EVIDENCE_CHANNELS, N_, SHA256_HEX, SIGNATURE_PREFIX, Form

TERM_FIELDS = (
    "purposes",
    "categories",
    "explicit",
    "jobcenter_id",
    "directions",
    "valid_until",
    "language",
    "channel",
    "interpreter_language",
    "interpreter_name",
    "representative_name",
    "representative_relation",
)
LIST_FIELDS = ("purposes", "categories", "explicit", "directions")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# The service's refusals, put next to the field they are about.
FIELD_OF_SLUG = {
    "unknown-purpose": ("purposes", N_("Please choose only offered options.")),
    "unknown-category": ("categories", N_("Please choose only offered options.")),
    "category-not-allowed-for-purpose": (
        "categories",
        N_("These data do not belong to the chosen purposes."),
    ),
    "special-category-not-explicit": (
        "explicit",
        N_("Health data need the person's explicit, separate consent."),
    ),
    "invalid-special-categories": ("explicit", N_("Only for health data.")),
    "unknown-jobcenter": ("jobcenter_id", N_("Please choose one of the offered options.")),
    "validity-in-past": ("valid_until", N_("The date lies in the past.")),
    "validity-too-long": ("valid_until", N_("A consent may last at most %(count)s days.")),
    "unsupported-language": ("language", N_("Please choose one of the offered options.")),
    "legal-representative-required": (
        "representative_name",
        N_(
            "The person is under %(count)s: the legal representative gives the consent. "
            "Please name them and their relation to the person."
        ),
    ),
}


@dataclass(frozen=True)
class Terms:
    purposes: list[str]
    categories: list[str]
    explicit: list[str]
    jobcenter_id: str
    directions: list[Direction]
    valid_until: date
    language: str
    channel: EvidenceChannel
    interpreter: Interpreter | None
    representative: LegalRepresentative | None = None


def jobcenters(session: Session) -> list[Organisation]:
    return list(
        session.exec(
            select(Organisation)
            .where(Organisation.kind == OrganisationKind.JOBCENTER)
            .order_by(col(Organisation.name))
        ).all()
    )


def suggested_jobcenter(session: Session, engine: PolicyEngine, grantee: Organisation) -> str:
    """``policies/routing.yaml`` names the jobcenter responsible for a municipality."""
    if grantee.official_key:
        jobcenter = engine.routing.jobcenter_for_municipality(ags=grantee.official_key)
        if jobcenter is not None:
            found = organisations.find_organisation_by_key(session, jobcenter.key)
            if found is not None:
                return found.id
    return ""


def defaults(session: Session, engine: PolicyEngine, grantee: Organisation) -> dict[str, object]:
    today = utcnow().astimezone(BERLIN).date()
    return {
        "purposes": [],
        "categories": [],
        "explicit": [],
        "jobcenter_id": suggested_jobcenter(session, engine, grantee),
        "directions": [Direction.MUNICIPALITY_ASKS_JOBCENTER.value],
        "valid_until": (today + timedelta(days=365)).isoformat(),
        "language": "de",
        "channel": EvidenceChannel.SCREEN_SIGNATURE.value,
    }


def parse_terms(
    form: Form, *, engine: PolicyEngine, languages: list[str], jobcenter_ids: list[str]
) -> Terms | None:
    catalogue = engine.catalogue
    purposes = form.choices("purposes", list(catalogue.purposes), at_least=1)
    categories = form.choices("categories", list(catalogue.categories), at_least=1)
    allowed = {c for p in purposes for c in catalogue.purposes[p].categories}
    if purposes and categories and set(categories) - allowed:
        form.fail("categories", N_("These data do not belong to the chosen purposes."))
    special = sorted(catalogue.special_categories())
    explicit = form.choices("explicit", special)
    if set(special) & set(categories) - set(explicit):
        form.fail("explicit", N_("Health data need the person's explicit, separate consent."))
    if set(explicit) - set(categories):
        form.fail("explicit", N_("Choose health data above as well, or leave this unticked."))
    jobcenter_id = form.choice("jobcenter_id", jobcenter_ids)
    directions = form.choices("directions", [d.value for d in Direction], at_least=1)
    valid_until = form.date("valid_until")
    today = utcnow().astimezone(BERLIN).date()
    max_days = engine.limits.consent_max_validity_days
    if valid_until is not None and valid_until < today:
        form.fail("valid_until", N_("The date lies in the past."))
    elif valid_until is not None and valid_until > today + timedelta(days=max_days):
        form.fail("valid_until", N_("A consent may last at most %(count)s days."), count=max_days)
    language = form.choice("language", languages)
    channel = form.choice("channel", EVIDENCE_CHANNELS)
    interpreter_language = form.optional("interpreter_language", max_length=8)
    interpreter_name = form.optional("interpreter_name")
    if bool(interpreter_language) != bool(interpreter_name):
        name = "interpreter_name" if interpreter_language else "interpreter_language"
        form.fail(name, N_("Give the interpreter's name and language, or neither."))
    if interpreter_language and interpreter_language not in languages:
        form.fail("interpreter_language", N_("Please choose one of the offered options."))
    representative_name = form.optional("representative_name")
    relation = form.optional("representative_relation", max_length=20)
    if bool(representative_name) != bool(relation):
        name = "representative_name" if relation else "representative_relation"
        form.fail(name, N_("Give the representative's name and relation, or neither."))
    if relation and relation not in {r.value for r in RepresentativeRelation}:
        form.fail("representative_relation", N_("Please choose one of the offered options."))
    if not form.ok:
        return None
    if jobcenter_id is None or valid_until is None or language is None or channel is None:
        return None  # unreachable: each one failed the form above
    return Terms(
        purposes=purposes,
        categories=categories,
        explicit=explicit,
        jobcenter_id=jobcenter_id,
        directions=[Direction(d) for d in directions],
        valid_until=valid_until,
        language=language,
        channel=EvidenceChannel(channel),
        interpreter=(
            Interpreter(language=interpreter_language, name=interpreter_name)
            if interpreter_language and interpreter_name
            else None
        ),
        representative=(
            LegalRepresentative(name=representative_name, relation=RepresentativeRelation(relation))
            if representative_name and relation
            else None
        ),
    )


def parse_evidence(form: Form, terms: Terms) -> Evidence | None:
    text_sha256 = form.text("text_sha256")
    text_version = form.text("text_version")
    if not SHA256_HEX.match(text_sha256) or not text_version:
        form.fail("text", N_("The text shown is missing. Please show the text again."))
    attachment = None
    if terms.channel is EvidenceChannel.SCREEN_SIGNATURE:
        attachment = _signature(form)
    if terms.channel is not EvidenceChannel.OWN_PHONE and form.text("agreed") != "yes":
        form.fail("agreed", N_("Please confirm that the person agreed to this text."))
    if not form.ok:
        return None
    return Evidence(
        channel=terms.channel,
        text_version=text_version[:40],
        text_sha256=text_sha256,
        interpreter=terms.interpreter,
        attachment=attachment,
        legal_representative=terms.representative,
    )


def _signature(form: Form) -> Attachment | None:
    value = form.text("signature")
    if not value:
        form.fail("signature", N_("Please let the person sign in the field."))
        return None
    if not value.startswith(SIGNATURE_PREFIX):
        form.fail("signature", N_("The signature could not be read. Please sign again."))
        return None
    encoded = value[len(SIGNATURE_PREFIX) :]
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_ATTACHMENT_BYTES:
        form.fail("signature", N_("The signature could not be read. Please sign again."))
        return None
    return Attachment(media_type="image/png", data_base64=encoded)


def consent_create(subject_id: str, terms: Terms, evidence: Evidence) -> ConsentCreate:
    return ConsentCreate(
        subject_id=subject_id,
        jobcenter_id=terms.jobcenter_id,
        purposes=terms.purposes,
        categories=terms.categories,
        explicit_special_categories=terms.explicit,
        directions=terms.directions,
        valid_until=terms.valid_until,
        language=terms.language,
        evidence=evidence,
    )


def place_error(form: Form, exc: GatewayError) -> bool:
    """Put a refusal of the service next to its field; False if it belongs to no field."""
    found = FIELD_OF_SLUG.get(exc.type_slug)
    if found is None:
        return False
    name, text = found
    form.fail(
        name,
        text,
        **({"count": exc.extensions["max_days"]} if "max_days" in exc.extensions else {}),
        **({"count": exc.extensions["capacity_age"]} if "capacity_age" in exc.extensions else {}),
    )
    return True
