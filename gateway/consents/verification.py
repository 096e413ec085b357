"""One-time codes that replace the speakerphone call.

The integration manager asks for a short code (``issue``) and reads it to
jobcenter staff on the phone; staff check it (``check``) and see what the
consent covers, its parties, validity and status, and of the person nothing
but the pseudonym. A code is 8 characters of an alphabet without look-alikes,
valid for minutes, good for one check; only its keyed hash (HMAC, the index
key of ``gateway.sealing``) is stored. Issuing is rate limited per consent;
one user's repeated wrong codes lock them out for a while. Every issue, check,
failure and lockout is audited in the transaction of its change, so the caller
commits a failed check too before answering with its problem.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.audit.service import AuditEvent, AuditTrail
from gateway.auth.principal import Principal
from gateway.auth.scopes import Scope
from gateway.clock import as_utc, utcnow
from gateway.consents import repository
from gateway.consents.models import (
    Consent,
    ConsentStatus,
    VerificationCode,
    VerificationLockout,
)
from gateway.consents.service import CODE_ALPHABET, ConsentService, normalise_code
from gateway.errors import Conflict, Forbidden, GatewayError, NotFound, TooManyRequests
from gateway.ids import new_id
from gateway.policy.models import Action, OrganisationKind, Role
from gateway.sealing import Sealer

CODE_LENGTH = 8
CODE_DOMAIN = "consent-verification-code-v1"


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


@dataclass(frozen=True)
class Issued:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Checked:
    """The consent a valid code names, or the problem to answer with (after committing)."""

    consent: Consent | None
    problem: GatewayError | None = None


@dataclass
class ConsentVerification:
    consents: ConsentService
    sealer: Sealer
    audit: AuditTrail
    ttl: timedelta = timedelta(minutes=5)
    per_hour: int = 5
    lockout_attempts: int = 5
    lockout_duration: timedelta = timedelta(minutes=15)

    def _hash(self, code: str) -> str:
        return self.sealer.blind_index(normalise_code(code), domain=CODE_DOMAIN)

    def issue(
        self,
        session: Session,
        *,
        principal: Principal,
        consent_id: str,
        trace_id: str | None = None,
    ) -> Issued:
        """A code for the integration manager of the consent's grantee (who may record it)."""
        principal.require(Scope.CONSENTS_WRITE)
        consent = repository.get_for_update(session, consent_id)
        if consent is None or not self.consents.allows(
            session, principal, Action.WRITE_CONSENT, consent
        ):
            raise NotFound("No such consent.", slug="consent-not-found")
        if consent.status is not ConsentStatus.ACTIVE:
            raise Conflict(
                f"A {consent.status.value} consent cannot be verified.",
                slug="consent-not-active",
                consent_status=consent.status.value,
            )
        now = utcnow()
        issued = repository.codes_issued_since(
            session, consent_id=consent.id, since=now - timedelta(hours=1)
        )
        if issued >= self.per_hour:
            raise TooManyRequests(
                f"At most {self.per_hour} codes per consent and hour.",
                slug="verification-code-rate-limited",
            )
        code = new_code()
        row = VerificationCode(
            id=new_id("vcd"),
            consent_id=consent.id,
            code_hash=self._hash(code),
            issued_by_user=principal.user_id or "",
            issued_at=now,
            expires_at=now + self.ttl,
        )
        repository.add_code(session, row)
        self.audit.record(
            session,
            AuditEvent(
                type="consent.verification_code_issued",
                actor=principal.actor,
                subject_id=consent.subject_id,
                consent_id=consent.id,
                trace_id=trace_id,
                details={"code_id": row.id, "expires_at": row.expires_at.isoformat()},
            ),
        )
        return Issued(code=code, expires_at=row.expires_at)

    def check(
        self, session: Session, *, principal: Principal, code: str, trace_id: str | None = None
    ) -> Checked:
        """Jobcenter staff check a code: the consent when it is valid for their jobcenter."""
        principal.require(Scope.CONSENTS_READ)
        acting = self.consents.guard.acting(session, principal)
        if (
            acting.role is not Role.JOBCENTER_STAFF
            or acting.organisation_kind is not OrganisationKind.JOBCENTER
        ):
            raise Forbidden(
                "Only jobcenter staff check verification codes.", slug="jobcenter-staff-only"
            )
        now = utcnow()
        lockout = repository.lockout_for_update(session, acting.user_id)
        if lockout is not None and lockout.locked_until and as_utc(lockout.locked_until) > now:
            self.audit.record(
                session,
                AuditEvent(
                    type="consent.verification_refused",
                    actor=principal.actor,
                    decision="deny",
                    reasons=("locked",),
                    trace_id=trace_id,
                ),
            )
            return Checked(
                consent=None,
                problem=TooManyRequests(
                    "Too many wrong codes; try again later.",
                    slug="verification-locked",
                    locked_until=as_utc(lockout.locked_until).isoformat(),
                ),
            )
        row = (
            repository.code_for_update(session, self._hash(code))
            if len(normalise_code(code)) == CODE_LENGTH
            else None
        )
        consent = repository.get(session, row.consent_id) if row is not None else None
        reason = self._invalid(row, consent, organisation_id=acting.organisation_id, now=now)
        if reason is not None:
            self._failed(
                session, principal, lockout, reason=reason, consent=consent, trace_id=trace_id
            )
            return Checked(
                consent=None,
                problem=NotFound(
                    "This code is unknown, expired or used.", slug="verification-code-invalid"
                ),
            )
        assert row is not None
        assert consent is not None
        row.used_at = now  # one check only
        row.used_by_user = acting.user_id
        session.add(row)
        if lockout is not None and lockout.failures:
            lockout.failures = 0
            repository.save_lockout(session, lockout)
        self.audit.record(
            session,
            AuditEvent(
                type="consent.verified",
                actor=principal.actor,
                subject_id=consent.subject_id,
                consent_id=consent.id,
                decision="permit",
                trace_id=trace_id,
                details={"code_id": row.id, "status": consent.status.value},
            ),
        )
        return Checked(consent=consent)

    @staticmethod
    def _invalid(
        row: VerificationCode | None,
        consent: Consent | None,
        *,
        organisation_id: str,
        now: datetime,
    ) -> str | None:
        if row is None or consent is None:
            return "unknown"
        if row.used_at is not None:
            return "used"
        if as_utc(row.expires_at) <= now:
            return "expired"
        if consent.jobcenter_id != organisation_id:
            return "other_jobcenter"
        return None

    def _failed(
        self,
        session: Session,
        principal: Principal,
        lockout: VerificationLockout | None,
        *,
        reason: str,
        consent: Consent | None,
        trace_id: str | None,
    ) -> None:
        now = utcnow()
        user_id = principal.user_id or ""
        counter = lockout or VerificationLockout(user_id=user_id, failures=0)
        counter.failures += 1
        counter.last_failure_at = now
        # A code of another jobcenter's consent: the event (visible to the caller's
        # organisation) must not tell them that consent exists.
        named = consent if consent is not None and reason != "other_jobcenter" else None
        self.audit.record(
            session,
            AuditEvent(
                type="consent.verification_failed",
                actor=principal.actor,
                subject_id=named.subject_id if named else None,
                consent_id=named.id if named else None,
                decision="deny",
                reasons=(reason,),
                trace_id=trace_id,
                details={"failures": counter.failures},
            ),
        )
        if counter.failures >= self.lockout_attempts:
            counter.locked_until = now + self.lockout_duration
            counter.failures = 0
            self.audit.record(
                session,
                AuditEvent(
                    type="consent.verification_locked",
                    actor=principal.actor,
                    decision="deny",
                    reasons=("too_many_wrong_codes",),
                    trace_id=trace_id,
                    details={"locked_until": counter.locked_until.isoformat()},
                ),
            )
        repository.save_lockout(session, counter)
