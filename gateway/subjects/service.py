"""Registering and finding persons without storing who they are in clear.

The pseudonym is random; the blind index (HMAC over the normalised name and
birth date, see ``normalise``) finds the same person again; the attributes
themselves are sealed with AES-GCM, bound to the subject's id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.consents import repository as consents
from gateway.errors import BadRequest, NotFound
from gateway.ids import new_id
from gateway.sealing import Sealer
from gateway.subjects import repository
from gateway.subjects.models import Subject
from gateway.subjects.normalise import identity_key, normalise_name

INDEX_DOMAIN = "subject-identity-v1"


@dataclass(frozen=True)
class Identity:
    given_name: str
    family_name: str
    birth_date: date
    jobcenter_customer_number: str | None = None


@dataclass(frozen=True)
class Registration:
    subject: Subject
    created: bool


def _identity_context(subject_id: str) -> str:
    return f"subjects/{subject_id}/identity"


def register(
    session: Session,
    *,
    sealer: Sealer,
    audit: AuditTrail,
    actor: Actor,
    organisation_id: str,
    identity: Identity,
    municipality_key: str | None,
    trace_id: str | None = None,
) -> Registration:
    if not normalise_name(identity.given_name) or not normalise_name(identity.family_name):
        raise BadRequest("Given and family name must contain letters.", slug="invalid-name")
    if not date(1900, 1, 1) <= identity.birth_date <= date.today():
        raise BadRequest("The birth date is not plausible.", slug="invalid-birth-date")
    index = sealer.blind_index(
        identity_key(
            given_name=identity.given_name,
            family_name=identity.family_name,
            birth_date=identity.birth_date,
        ),
        domain=INDEX_DOMAIN,
    )
    existing = repository.find_by_index(session, index)
    if existing is not None:
        return Registration(subject=existing, created=False)
    subject_id = new_id("sub")
    document = {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "birth_date": identity.birth_date.isoformat(),
    }
    subject = Subject(
        id=subject_id,
        identity_index=index,
        identity_sealed=sealer.seal(
            json.dumps(document).encode("utf-8"), context=_identity_context(subject_id)
        ),
        customer_number_sealed=(
            sealer.seal(
                identity.jobcenter_customer_number.encode("utf-8"),
                context=f"subjects/{subject_id}/customer-number",
            )
            if identity.jobcenter_customer_number
            else None
        ),
        municipality_key=municipality_key,
        registered_by=organisation_id,
    )
    try:
        with session.begin_nested():
            repository.add(session, subject)
    except IntegrityError:
        # Registered by someone else a moment ago: the unique index decides.
        found = repository.find_by_index(session, index)
        assert found is not None
        return Registration(subject=found, created=False)
    audit.record(
        session,
        AuditEvent(
            type="subject.registered", actor=actor, subject_id=subject_id, trace_id=trace_id
        ),
    )
    return Registration(subject=subject, created=True)


def change_municipality(
    session: Session,
    *,
    audit: AuditTrail,
    actor: Actor,
    organisation_id: str,
    subject_id: str,
    municipality_key: str,
    trace_id: str | None = None,
) -> tuple[Subject, bool]:
    """Record that the person lives in another municipality; returns the subject and whether
    the key changed.

    Only an organisation that knows the person here may say so: the one that registered
    them or a party to one of their consents. To anyone else the person does not exist.
    """
    subject = repository.get(session, subject_id)
    if subject is None or not (
        subject.registered_by == organisation_id
        or any(
            organisation_id in (consent.grantee_id, consent.jobcenter_id)
            for consent in consents.for_subject(session, subject_id=subject_id)
        )
    ):
        raise NotFound("No such subject.", slug="subject-not-found")
    if subject.municipality_key == municipality_key:
        return subject, False
    subject.municipality_key = municipality_key
    session.add(subject)
    audit.record(
        session,
        AuditEvent(
            type="subject.moved",
            actor=actor,
            subject_id=subject.id,
            trace_id=trace_id,
            details={"changed": "municipality_key"},
        ),
    )
    return subject, True


def reveal(subject: Subject, *, sealer: Sealer) -> Identity:
    """Open the sealed identity: for the person's own pages and the receipt, never for logs."""
    document = json.loads(
        sealer.open(subject.identity_sealed, context=_identity_context(subject.id))
    )
    customer = (
        sealer.open(
            subject.customer_number_sealed, context=f"subjects/{subject.id}/customer-number"
        )
        if subject.customer_number_sealed
        else None
    )
    return Identity(
        given_name=document["given_name"],
        family_name=document["family_name"],
        birth_date=date.fromisoformat(document["birth_date"]),
        jobcenter_customer_number=customer.decode("utf-8") if customer else None,
    )


def reseal_all(session: Session, *, sealer: Sealer) -> int:
    """Re-encrypt every sealed attribute with the active data key (after ``keys rotate``)."""
    count = 0
    for subject in repository.iterate(session):
        if sealer.is_current(subject.identity_sealed) and (
            subject.customer_number_sealed is None
            or sealer.is_current(subject.customer_number_sealed)
        ):
            continue
        context = _identity_context(subject.id)
        subject.identity_sealed = sealer.seal(
            sealer.open(subject.identity_sealed, context=context), context=context
        )
        if subject.customer_number_sealed:
            number_context = f"subjects/{subject.id}/customer-number"
            subject.customer_number_sealed = sealer.seal(
                sealer.open(subject.customer_number_sealed, context=number_context),
                context=number_context,
            )
        session.add(subject)
        count += 1
    session.flush()
    return count
