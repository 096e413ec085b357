"""Persons without storing who they are in clear: sealing, opening and re-sealing.

The pseudonym is random; the blind index (HMAC over the normalised name and
birth date, see ``normalise``) finds the same person again; the attributes
themselves are sealed with AES-GCM, bound to the subject's id. The use cases
are beside this module: ``registration`` (register or find), ``moves`` (a new
municipality), ``reading`` (a person as one organisation may see them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from gateway.sealing import Sealer
from gateway.subjects import repository
from gateway.subjects.models import Subject

INDEX_DOMAIN = "subject-identity-v1"


@dataclass(frozen=True)
class Identity:
    given_name: str
    family_name: str
    birth_date: date
    jobcenter_customer_number: str | None = None


@dataclass(frozen=True)
class Registration:
    """``created``: the person is new to the caller's organisation (201), not
    necessarily to the gateway; whether another organisation knows them is never said."""

    subject: Subject
    created: bool


def identity_context(subject_id: str) -> str:
    return f"subjects/{subject_id}/identity"


def number_context(subject_id: str) -> str:
    """The context of a customer number, the subject's and each registration's alike."""
    return f"subjects/{subject_id}/customer-number"


def seal_identity(identity: Identity, *, subject_id: str, sealer: Sealer) -> str:
    document = {
        "given_name": identity.given_name,
        "family_name": identity.family_name,
        "birth_date": identity.birth_date.isoformat(),
    }
    return sealer.seal(json.dumps(document).encode("utf-8"), context=identity_context(subject_id))


def seal_number(number: str | None, *, subject_id: str, sealer: Sealer) -> str | None:
    if not number:
        return None
    return sealer.seal(number.encode("utf-8"), context=number_context(subject_id))


def open_number(sealed: str | None, *, subject_id: str, sealer: Sealer) -> str | None:
    if not sealed:
        return None
    return sealer.open(sealed, context=number_context(subject_id)).decode("utf-8")


def reveal(subject: Subject, *, sealer: Sealer) -> Identity:
    """Open the sealed identity, with the number the person was first registered with: for
    the answering jobcenter, the person's own pages and the receipt, never for logs."""
    document = json.loads(
        sealer.open(subject.identity_sealed, context=identity_context(subject.id))
    )
    return Identity(
        given_name=document["given_name"],
        family_name=document["family_name"],
        birth_date=date.fromisoformat(document["birth_date"]),
        jobcenter_customer_number=open_number(
            subject.customer_number_sealed, subject_id=subject.id, sealer=sealer
        ),
    )


def _reseal(sealed: str, *, context: str, sealer: Sealer) -> str:
    return sealer.seal(sealer.open(sealed, context=context), context=context)


def reseal_all(session: Session, *, sealer: Sealer) -> int:
    """Re-encrypt every sealed attribute with the active data key (after ``keys rotate``):
    subjects' identities and numbers, and registrations' numbers. Returns how many rows."""
    count = 0
    for subject in repository.iterate(session):
        if sealer.is_current(subject.identity_sealed) and (
            subject.customer_number_sealed is None
            or sealer.is_current(subject.customer_number_sealed)
        ):
            continue
        subject.identity_sealed = _reseal(
            subject.identity_sealed, context=identity_context(subject.id), sealer=sealer
        )
        if subject.customer_number_sealed:
            subject.customer_number_sealed = _reseal(
                subject.customer_number_sealed, context=number_context(subject.id), sealer=sealer
            )
        session.add(subject)
        count += 1
    for row in repository.iterate_registrations(session):
        if row.customer_number_sealed is None or sealer.is_current(row.customer_number_sealed):
            continue
        row.customer_number_sealed = _reseal(
            row.customer_number_sealed, context=number_context(row.subject_id), sealer=sealer
        )
        session.add(row)
        count += 1
    session.flush()
    return count
