"""What the rules know of a person (``PersonFacts``), read from the database.

The subjects code holds no rule of who may do what with a person: it builds
these facts and asks the access guard, which lets ``policies/rules.cedar``
decide (``person.register``, ``person.read.staff_with_standing``,
``person.move``).
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.organisations import repository as organisations
from gateway.policy.models import PersonFacts, Routing
from gateway.subjects import repository
from gateway.subjects.models import Subject

#: The facts for registering or finding a person: no person yet, so nobody's standing.
NEW_PERSON = PersonFacts(id="new")


def _organisation_with_key(session: Session, key: str | None) -> str | None:
    if not key:
        return None
    found = organisations.find_organisation_by_key(session, key)
    return found.id if found is not None else None


def person_facts(session: Session, *, subject: Subject, routing: Routing) -> PersonFacts:
    """Who has standing with ``subject``: its registrars, the parties of its consents in
    force, those answering an open query about it, its municipality and the jobcenter
    ``routing.yaml`` makes responsible for that municipality."""
    responsible = (
        routing.jobcenter_for_municipality(ags=subject.municipality_key)
        if subject.municipality_key
        else None
    )
    return PersonFacts(
        id=subject.id,
        registrar=subject.registered_by,
        registrars=repository.registrars(session, subject.id) | {subject.registered_by},
        consent_parties=repository.consent_parties(session, subject.id),
        answering=repository.answering(session, subject.id),
        municipality_id=_organisation_with_key(session, subject.municipality_key),
        responsible_jobcenter_id=_organisation_with_key(
            session, responsible.key if responsible else None
        ),
    )
