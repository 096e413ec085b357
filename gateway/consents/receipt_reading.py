"""Reading a consent's receipt: the signed JWS for every party that may read
the consent, and the self-service code only for whom the rules allow it.

The code lets whoever holds it withdraw the consent in the person's name, so
it is printed only for the person: the rule
``self_service_code.recording_organisation`` shows it to the integration
managers of the organisation that recorded the consent. Every read of a
receipt is audited (``consent.receipt_read``), naming whether the code was
shown and the rules that decided.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from gateway.audit.service import AuditEvent
from gateway.auth.principal import Principal
from gateway.consents import receipts, repository
from gateway.consents.models import Consent
from gateway.consents.service import ConsentService
from gateway.errors import NotFound
from gateway.keys import KeyStore
from gateway.organisations import repository as organisations
from gateway.policy.models import Action


@dataclass(frozen=True)
class ReceiptRead:
    consent: Consent
    receipt: receipts.Receipt
    #: None unless the reader may hand the code to the person
    self_service_code: str | None


def sign_receipt(
    session: Session, *, consents: ConsentService, keys: KeyStore, issuer: str, consent: Consent
) -> receipts.Receipt:
    """The signed receipt of ``consent``: its essentials and the pseudonym, never a
    name, never the self-service code."""
    grantee = organisations.get_organisation(session, consent.grantee_id)
    jobcenter = organisations.get_organisation(session, consent.jobcenter_id)
    assert grantee is not None
    assert jobcenter is not None
    claims = receipts.payload(
        consent=consent,
        issuer=issuer,
        grantee=grantee,
        jobcenter=jobcenter,
        given_by=consents.given_by(consent),
    )
    return receipts.sign(keys=keys, claims=claims)


def read_receipt(
    session: Session,
    *,
    consents: ConsentService,
    keys: KeyStore,
    issuer: str,
    principal: Principal,
    consent_id: str,
    form: str,
    trace_id: str | None = None,
) -> ReceiptRead:
    """The receipt of one consent for ``principal`` (404 for whoever may not read
    it); ``form`` (``jws`` or ``printable``) is named on the audit event."""
    guard = consents.guard
    guard.attempt(principal, Action.READ_RECEIPT)
    consent = repository.get(session, consent_id)
    if consent is None:
        raise NotFound("No such consent.", slug="consent-not-found")
    facts = consents.facts(consent)
    decision = guard.require(
        session,
        principal,
        Action.READ_RECEIPT,
        about=facts,
        otherwise=lambda: NotFound("No such consent.", slug="consent-not-found"),
    )
    code = guard.decide_if_attemptable(
        session, principal, Action.READ_SELF_SERVICE_CODE, about=facts
    )
    shows_code = code is not None and code.allowed
    deciding = decision.policy_ids + (code.policy_ids if code is not None and shows_code else ())
    consents.audit.record(
        session,
        AuditEvent(
            type="consent.receipt_read",
            actor=principal.actor,
            subject_id=consent.subject_id,
            consent_id=consent.id,
            decision="permit",
            policies=tuple(dict.fromkeys(deciding)),
            policy_version=decision.policy_version,
            trace_id=trace_id,
            details={"form": form, "self_service_code_shown": shows_code},
        ),
    )
    return ReceiptRead(
        consent=consent,
        receipt=sign_receipt(session, consents=consents, keys=keys, issuer=issuer, consent=consent),
        self_service_code=consents.self_service_code(consent) if shows_code else None,
    )
