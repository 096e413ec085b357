"""A person moved to another municipality: ``PATCH /v1/subjects/{id}``.

The move changes which jobcenter is responsible for the person, so it pauses
each active consent naming a jobcenter that no longer is (``ConsentService.
pause_after_move``; the other parties hear of it through their own webhooks).
Who may declare a move is the rule ``person.move`` (the organisation that
registered the person first, the municipality of the person's current key,
the jobcenter responsible for it); to anyone else the person does not exist
(404) and nothing changes. The new key must lie in the mover's area, unless
the person's current key does (an organisation declares that the person left
its area; ``areas``). The answer names only the paused consents the caller
may read (rule of ``read_consent``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from gateway.audit.service import AuditEvent, AuditTrail
from gateway.auth.principal import Principal
from gateway.consents.service import ConsentService
from gateway.errors import NotFound
from gateway.organisations import repository as organisations
from gateway.policy.models import Action, Routing
from gateway.subjects import repository
from gateway.subjects.areas import in_area, require_in_area
from gateway.subjects.facts import person_facts
from gateway.subjects.models import Subject


@dataclass(frozen=True)
class Moved:
    subject: Subject
    #: the consents paused by the move that the caller may read
    paused_consent_ids: tuple[str, ...]


def _not_found() -> NotFound:
    return NotFound("No such subject.", slug="subject-not-found")


def move(
    session: Session,
    *,
    consents: ConsentService,
    principal: Principal,
    audit: AuditTrail,
    routing: Routing,
    subject_id: str,
    municipality_key: str,
    trace_id: str | None = None,
) -> Moved:
    guard = consents.guard
    # A token that cannot move anyone (a scope it lacks, no user) learns nothing of the person.
    guard.attempt(principal, Action.MOVE_PERSON)
    guard.acting(session, principal)
    subject = repository.get_for_update(session, subject_id)
    if subject is None:
        raise _not_found()
    decision = guard.require(
        session,
        principal,
        Action.MOVE_PERSON,
        about=person_facts(session, subject=subject, routing=routing),
        otherwise=_not_found,
    )
    if subject.municipality_key == municipality_key:
        return Moved(subject=subject, paused_consent_ids=())  # said again: nothing changes
    organisation = organisations.get_organisation(session, principal.organisation_id)
    assert organisation is not None  # the guard found it
    if subject.municipality_key is None or not in_area(
        session, organisation=organisation, key=subject.municipality_key, routing=routing
    ):
        require_in_area(session, organisation=organisation, key=municipality_key, routing=routing)
    subject.municipality_key = municipality_key
    session.add(subject)
    actor = principal.actor
    audit.record(
        session,
        AuditEvent(
            type="subject.moved",
            actor=actor,
            subject_id=subject.id,
            policies=decision.policy_ids,
            policy_version=decision.policy_version,
            trace_id=trace_id,
            details={"changed": "municipality_key"},
        ),
    )
    paused = consents.pause_after_move(session, subject=subject, actor=actor, trace_id=trace_id)
    visible = tuple(
        consent.id
        for consent in paused
        if (
            verdict := guard.decide_if_attemptable(
                session, principal, Action.READ_CONSENT, about=consents.facts(consent)
            )
        )
        is not None
        and verdict.allowed
    )
    return Moved(subject=subject, paused_consent_ids=visible)
