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
from gateway.bootstrap import Container
from gateway.organisations import repository as organisations
from gateway.organisations.models import OrganisationKind
from gateway.policy.models import Routing
from gateway.sealing import Sealer
from gateway.subjects import reading, registration
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
    session: Session, *, container: Container, principal: Principal, subject_id: str
) -> Person:
    """The person as the viewer may see them (``person.read.staff_with_standing``), or 404."""
    return reading.read_person(
        session,
        guard=container.guard,
        principal=principal,
        sealer=container.sealer,
        routing=container.policy.routing,
        subject_id=subject_id,
    )


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
