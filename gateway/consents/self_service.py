"""What the holder of a self-service code may see and do: their consent, the
accesses under it, and withdrawing it.

The code printed on the receipt is the person's key. The gateway cannot tell
the person from whoever else holds the paper, so the holder is a principal of
its own (``CodeHolder``) and the rule ``self_service.own_consent`` bounds it
to the consent the code was issued for and that consent's other versions
(amendments): never another consent, not even one about the same person.
The person's full access report (GDPR Art. 15) stays with the data
protection officer.

The code alone suffices to withdraw (GDPR Art. 7(3): withdrawing must be as
easy as giving consent). Why that is safe enough is in ``docs/security.md``:
the code is shown only to the recording organisation's integration managers
(to hand it over), a withdrawal by code is recorded as the person's by code
(``actor.kind = person``, ``actor.via = self_service_code``), and both parties
are told at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from gateway.audit import repository as audit_repository
from gateway.audit.models import AuditEventRow
from gateway.audit.repository import EventFilter
from gateway.consents import repository
from gateway.consents.models import Consent
from gateway.consents.service import ConsentService
from gateway.errors import NotFound
from gateway.policy.models import Action, CodeHolder, Decision

#: How many events a code's page lists at most (the newest).
MAX_EVENTS = 500


@dataclass(frozen=True)
class CodeAccess:
    """An opened code: its consent, the ids of that consent's versions (newest
    first), and the decision that let the holder read them."""

    consent: Consent
    holder: CodeHolder
    versions: tuple[str, ...]
    decision: Decision


def _unknown() -> NotFound:
    return NotFound("This code is not known.", slug="self-service-code-unknown")


def open_code(
    session: Session, *, consents: ConsentService, code: str, action: Action = Action.READ_BY_CODE
) -> CodeAccess:
    """The consent behind ``code`` if the rules let its holder do ``action``; an unknown
    code and a refused one read the same (404)."""
    consent = consents.by_self_service_code(session, code=code)
    versions = tuple(repository.versions(session, consent))
    holder = CodeHolder(consent_id=consent.id, chain=versions[-1])
    facts = consents.facts(consent, chain=versions[-1])
    decision = consents.guard.by_code(action, holder=holder, consent=facts)
    if not decision.allowed:
        raise _unknown()
    return CodeAccess(consent=consent, holder=holder, versions=versions, decision=decision)


def events(session: Session, access: CodeAccess) -> list[AuditEventRow]:
    """The events a code's holder sees: those under the consent's versions, and the
    questions a statute allows that passed between the same two organisations."""
    consent = access.consent
    rows: list[AuditEventRow] = []
    for version in access.versions:
        rows += audit_repository.find_events(
            session, EventFilter(consent_id=version), limit=MAX_EVENTS
        )
    parties = (consent.grantee_id, consent.jobcenter_id)
    for organisation in parties:
        rows += [
            row
            for row in audit_repository.find_events(
                session,
                EventFilter(
                    subject_id=consent.subject_id,
                    organisation_id=organisation,
                    without_consent=True,
                ),
                limit=MAX_EVENTS,
            )
            if row.event_type.startswith("query.")
        ]
    unique = {row.seq: row for row in rows}
    return [unique[seq] for seq in sorted(unique)][-MAX_EVENTS:]


def withdraw(
    session: Session, *, consents: ConsentService, code: str, trace_id: str | None = None
) -> Consent:
    """The holder withdraws the code's consent in the person's name."""
    access = open_code(session, consents=consents, code=code, action=Action.WITHDRAW_BY_CODE)
    return consents.withdraw_by_code(
        session, consent=access.consent, decision=access.decision, trace_id=trace_id
    )
