"""Persons on the pages: register or find, and a person as the viewer may see them.

The pages keep no rules of their own: registering or finding is the use case
``gateway.subjects.registration`` (rule ``person.register``), reading a
person is ``gateway.subjects.reading`` (rule
``person.read.staff_with_standing``: for everyone else the person does not
exist, 404). The customer number shown is the one the viewer's organisation
gave; another organisation's stays with it.
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.access.guard import AccessGuard
from gateway.audit.service import AuditTrail
from gateway.auth.principal import Principal
from gateway.errors import NotFound
from gateway.organisations import repository as organisations
from gateway.organisations.models import OrganisationKind
from gateway.policy.models import Routing
from gateway.sealing import Sealer
from gateway.subjects import reading, registration
from gateway.subjects import repository as subjects
from gateway.subjects.facts import person_facts
from gateway.subjects.reading import Person
from gateway.subjects.service import Identity, Registration

__all__ = ["Person", "known", "register_or_find", "visible"]


def register_or_find(
    session: Session,
    *,
    principal: Principal,
    guard: AccessGuard,
    routing: Routing,
    sealer: Sealer,
    audit: AuditTrail,
    identity: Identity,
    another_person: bool = False,
    trace_id: str | None,
) -> Registration:
    """A municipality registers persons under its own key; others give none."""
    organisation = organisations.get_organisation(session, principal.organisation_id)
    own_key = (
        organisation.official_key
        if organisation is not None and organisation.kind is OrganisationKind.MUNICIPALITY
        else None
    )
    return registration.register(
        session,
        guard=guard,
        principal=principal,
        sealer=sealer,
        audit=audit,
        routing=routing,
        identity=identity,
        municipality_key=own_key,
        another_person=another_person,
        trace_id=trace_id,
    )


def visible(
    session: Session,
    *,
    principal: Principal,
    subject_id: str,
    sealer: Sealer,
    guard: AccessGuard | None = None,
    routing: Routing | None = None,
) -> Person:
    """The person as the viewer may see them, or 404."""
    if guard is not None and routing is not None:
        return reading.read_person(
            session,
            guard=guard,
            principal=principal,
            sealer=sealer,
            routing=routing,
            subject_id=subject_id,
        )
    # Transitional, for the consent and question pages that do not pass the guard yet:
    # the same facts the rule reads, standing alone. Remove once every caller passes it.
    subject = subjects.get(session, subject_id)
    empty = Routing(jobcenters={}, districts={}, municipalities={})
    facts = person_facts(session, subject=subject, routing=empty) if subject is not None else None
    organisation_id = principal.organisation_id
    if (
        subject is None
        or facts is None
        or organisation_id not in (facts.registrars | facts.consent_parties | facts.answering)
    ):
        raise NotFound("No such person.", slug="subject-not-found")
    return reading.as_seen_by(session, subject, organisation_id=organisation_id, sealer=sealer)


def known(
    session: Session,
    *,
    principal: Principal,
    guard: AccessGuard,
    routing: Routing,
    sealer: Sealer,
    limit: int = 20,
) -> list[Person]:
    """The persons the viewer's organisation registered or found, newest first."""
    return reading.registered_by_organisation(
        session, guard=guard, principal=principal, sealer=sealer, routing=routing, limit=limit
    )
