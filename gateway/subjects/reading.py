"""A person as one organisation may see them: name, birth date and its own customer number.

Whether the caller may read the person at all is the rule
``person.read.staff_with_standing`` (registrars, parties to a consent in
force, those answering an open query); to anyone else the person does not
exist (404). The customer number shown is the one the caller's organisation
gave when it registered or found the person: another organisation's stays
with it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlmodel import Session

from gateway.access.guard import AccessGuard
from gateway.auth.principal import Principal
from gateway.errors import NotFound
from gateway.policy.models import Action, Routing
from gateway.sealing import Sealer
from gateway.subjects import repository
from gateway.subjects.facts import person_facts
from gateway.subjects.models import Subject
from gateway.subjects.service import Identity, open_number, reveal


@dataclass(frozen=True)
class Person:
    subject: Subject
    identity: Identity


def _not_found() -> NotFound:
    return NotFound("No such person.", slug="subject-not-found")


def read_person(
    session: Session,
    *,
    guard: AccessGuard,
    principal: Principal,
    sealer: Sealer,
    routing: Routing,
    subject_id: str,
) -> Person:
    subject = repository.get(session, subject_id)
    if subject is None:
        raise _not_found()
    guard.require(
        session,
        principal,
        Action.READ_PERSON,
        about=person_facts(session, subject=subject, routing=routing),
        otherwise=_not_found,
    )
    return as_seen_by(session, subject, organisation_id=principal.organisation_id, sealer=sealer)


def registered_by_organisation(
    session: Session,
    *,
    guard: AccessGuard,
    principal: Principal,
    sealer: Sealer,
    routing: Routing,
    limit: int = 20,
) -> list[Person]:
    """The persons the caller's organisation registered or found, newest first, each as
    the rules let the caller read it."""
    people = []
    for subject_id in repository.registered_subject_ids(
        session, organisation_id=principal.organisation_id, limit=limit
    ):
        subject = repository.get(session, subject_id)
        if subject is None or not guard.allows(
            session,
            principal,
            Action.READ_PERSON,
            about=person_facts(session, subject=subject, routing=routing),
        ):
            continue
        people.append(
            as_seen_by(session, subject, organisation_id=principal.organisation_id, sealer=sealer)
        )
    return people


def as_seen_by(
    session: Session, subject: Subject, *, organisation_id: str, sealer: Sealer
) -> Person:
    own = repository.registration(session, organisation_id=organisation_id, subject_id=subject.id)
    number = (
        open_number(own.customer_number_sealed, subject_id=subject.id, sealer=sealer)
        if own is not None
        else None
    )
    identity = replace(reveal(subject, sealer=sealer), jobcenter_customer_number=number)
    return Person(subject=subject, identity=identity)
