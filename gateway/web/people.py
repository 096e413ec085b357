"""Persons on the pages: register or find, and who may open a person's page.

Registering or finding needs the same as ``POST /v1/subjects`` (a consent
scope, a municipality, district office or jobcenter). A person's page opens
for an organisation that registered the person, found them on the pages with
name and birth date, or is a party to a consent about them; for everyone
else the person does not exist (404). Names are opened only for those pages; the
jobcenter customer number only for the registering organisation and the parties
to a consent, not for one that merely found the person by name and birth date.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlmodel import Session

from gateway.audit.service import AuditTrail
from gateway.auth.principal import Principal
from gateway.auth.scopes import Scope
from gateway.errors import Forbidden, NotFound
from gateway.organisations import repository as organisations
from gateway.organisations.models import OrganisationKind
from gateway.sealing import Sealer
from gateway.subjects import repository as subjects
from gateway.subjects import service as subject_service
from gateway.subjects.models import Subject
from gateway.subjects.service import Identity, Registration
from gateway.web import repository


@dataclass(frozen=True)
class Person:
    subject: Subject
    identity: Identity


def register_or_find(
    session: Session,
    *,
    principal: Principal,
    sealer: Sealer,
    audit: AuditTrail,
    identity: Identity,
    trace_id: str | None,
) -> Registration:
    if not principal.scopes & {Scope.CONSENTS_WRITE, Scope.CONSENTS_READ}:
        principal.require(Scope.CONSENTS_WRITE)
    organisation = organisations.get_organisation(session, principal.organisation_id)
    if organisation is None or organisation.kind is OrganisationKind.OPERATOR:
        raise Forbidden("Only municipalities and jobcenters register persons.")
    registration = subject_service.register(
        session,
        sealer=sealer,
        audit=audit,
        actor=principal.actor,
        organisation_id=principal.organisation_id,
        identity=identity,
        municipality_key=(
            organisation.official_key
            if organisation.kind is OrganisationKind.MUNICIPALITY
            else None
        ),
        trace_id=trace_id,
    )
    repository.remember_subject(
        session, organisation_id=organisation.id, subject_id=registration.subject.id
    )
    return registration


def visible(session: Session, *, principal: Principal, subject_id: str, sealer: Sealer) -> Person:
    subject = subjects.get(session, subject_id)
    organisation_id = principal.organisation_id
    party = subject is not None and (
        subject.registered_by == organisation_id
        or repository.has_consent_with(
            session, organisation_id=organisation_id, subject_id=subject.id
        )
    )
    if subject is None or not (
        party
        or repository.knows_subject(session, organisation_id=organisation_id, subject_id=subject.id)
    ):
        raise NotFound("No such person.", slug="subject-not-found")
    identity = subject_service.reveal(subject, sealer=sealer)
    if not party:
        # Found by name and birth date only: what another organisation recorded stays there.
        identity = replace(identity, jobcenter_customer_number=None)
    return Person(subject=subject, identity=identity)


def known(
    session: Session, *, principal: Principal, sealer: Sealer, limit: int = 20
) -> list[Person]:
    people = []
    for subject_id in repository.known_subject_ids(
        session, organisation_id=principal.organisation_id, limit=limit
    ):
        subject = subjects.get(session, subject_id)
        if subject is not None:
            people.append(
                Person(subject=subject, identity=subject_service.reveal(subject, sealer=sealer))
            )
    return people
