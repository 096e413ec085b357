"""The rules of consents: recording, confirming, reading, amending, pausing, resuming,
withdrawing, revoking, expiring.

Every change is decided by the policy engine (``write_consent``,
``read_consent``, ``revoke_consent``; who may revoke a consent may also pause
and resume it) and written with its audit event in the caller's transaction.
A consent the caller may not read does not exist for them (404), whether it
exists or not.

Every status change sets ``status_reason`` (a ``StatusReason`` code and a
text) and names the code in its audit event (``details.status_reason``).

Withdrawn or revoked: the person ends a consent (``withdrawn``) on their
self-service code, or by telling an organisation, which records it with the
channel the person used (``in_person``, ``phone``, ``letter``, ``email``,
``self_service``). Only ``case_system`` means the organisation ends the consent
on its own account (``revoked``). Both endings are final, are audited as
``consent.revoked`` (the event of every ending by declaration; ``details.status``
tells them apart) and stop pending work alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from gateway.access.guard import AccessGuard
from gateway.audit.service import (
    PERSON_BY_CODE,
    PERSON_BY_CONFIRMATION,
    Actor,
    AuditEvent,
    AuditTrail,
)
from gateway.auth.principal import Principal
from gateway.clock import as_utc, utcnow
from gateway.consents import repository
from gateway.consents.models import (
    STATUS_REASON_TEXTS,
    Consent,
    ConsentStatus,
    EvidenceChannel,
    StatusReason,
)
from gateway.consents.schemas import (
    Attachment,
    ConsentCreate,
    ConsentTerms,
    Evidence,
    RevokeRequest,
    StatusChangeRequest,
)
from gateway.consents.texts import ConsentTextError, ConsentTexts, RenderedText
from gateway.errors import BadRequest, Conflict, Forbidden, GatewayError, NotFound
from gateway.ids import new_id
from gateway.organisations import repository as organisations
from gateway.organisations.models import Organisation, OrganisationKind
from gateway.pagination import visible_page
from gateway.policy.engine import PolicyEngine
from gateway.policy.models import Action, ConsentFacts, Decision, Direction
from gateway.policy.models import ConsentStatus as PolicyConsentStatus
from gateway.sealing import Sealer
from gateway.subjects import repository as subjects
from gateway.subjects import service as subject_service
from gateway.subjects.models import Subject
from gateway.webhooks.service import WebhookService

BERLIN = ZoneInfo("Europe/Berlin")
SELF_SERVICE_DOMAIN = "consent-self-service-v1"
# Crockford's base32 without look-alikes: easy to type from paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
MAX_ATTACHMENT_BYTES = 150 * 1024
# Revocation channels by which the person's own declaration reached an organisation:
# ending the consent on one of them is the person's withdrawal. ``case_system`` is not one.
PERSON_CHANNELS = frozenset({"in_person", "phone", "letter", "email", "self_service"})
# Statuses in which a consent can still be ended by declaration.
ENDABLE = frozenset({ConsentStatus.ACTIVE, ConsentStatus.PENDING, ConsentStatus.PAUSED})


class Unprocessable(GatewayError):
    status = 422
    default_slug = "invalid-consent"
    title = "The consent cannot be recorded as given"


class Gone(GatewayError):
    status = 410
    default_slug = "gone"
    title = "No longer available"


def end_of_day(day: date) -> datetime:
    """``valid_until`` is inclusive for people: it ends at the next midnight in Berlin."""
    midnight = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=BERLIN)
    return midnight.astimezone(UTC)  # everything stored is UTC (SQLite keeps no offsets)


def last_day(valid_until: datetime) -> date:
    """The inverse of ``end_of_day``: the last day the person agreed to."""
    return (as_utc(valid_until).astimezone(BERLIN) - timedelta(seconds=1)).date()


def new_self_service_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalise_code(code: str) -> str:
    return "".join(char for char in code.upper() if char.isalnum())


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Use:
    """How often a consent was used for one question type, and when last."""

    count: int
    last_used_at: datetime | None


@dataclass(frozen=True)
class Recorded:
    consent: Consent
    confirmation_token: str | None


@dataclass
class ConsentService:
    engine: PolicyEngine
    guard: AccessGuard
    texts: ConsentTexts
    sealer: Sealer
    audit: AuditTrail
    confirmation_ttl: timedelta = timedelta(hours=24)
    webhooks: WebhookService | None = None
    # Called with (session, consent, reason) when a consent ends (revoked or expired),
    # so pending work under it stops in the same transaction.
    on_end: list[Callable[[Session, Consent, str], None]] = field(default_factory=list)

    def _notify(self, session: Session, consent: Consent, event_type: str) -> None:
        """Tell both parties' subscribed systems, in the transaction of the change."""
        if self.webhooks is None:
            return
        self.webhooks.enqueue(
            session,
            organisation_ids=[consent.grantee_id, consent.jobcenter_id],
            event_type=event_type,
            data={
                "consent_id": consent.id,
                "version": consent.version,
                "status": consent.status.value,
                "status_reason": consent.status_reason_code.value
                if consent.status_reason_code
                else None,
                "subject_id": consent.subject_id,
            },
        )

    # -- status and its reason ----------------------------------------------------

    def _set_status(
        self,
        consent: Consent,
        status: ConsentStatus,
        reason: StatusReason,
        *,
        text: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """The only place a status changes: always with its reason and moment."""
        consent.status = status
        consent.status_reason_code = reason
        consent.status_reason_sealed = (
            self.sealer.seal(text.encode("utf-8"), context=f"consents/{consent.id}/status-reason")
            if text
            else None
        )
        consent.status_changed_at = at or utcnow()

    def status_reason(self, consent: Consent) -> dict[str, str] | None:
        """``{"code", "text"}``: the text given with the change, else the code's standard text."""
        code = consent.status_reason_code
        if code is None:
            return None
        if consent.status_reason_sealed:
            text = self.sealer.open(
                consent.status_reason_sealed, context=f"consents/{consent.id}/status-reason"
            ).decode("utf-8")
        else:
            text = STATUS_REASON_TEXTS[code]
        return {"code": code.value, "text": text}

    # -- facts for the policy engine ------------------------------------------

    @staticmethod
    def facts(consent: Consent, *, chain: str | None = None) -> ConsentFacts:
        """What the rules know of ``consent``; ``chain`` (the id of its first version)
        only where a rule asks for it (the self-service code's)."""
        # Paused and withdrawn reach the rules as they are: only "active" permits anything.
        status = (
            PolicyConsentStatus(consent.status.value)
            if consent.status.value in PolicyConsentStatus._value2member_map_
            else PolicyConsentStatus.EXPIRED  # superseded: no longer in force
        )
        return ConsentFacts(
            id=consent.id,
            status=status,
            grantee_organisation_id=consent.grantee_id,
            jobcenter_organisation_id=consent.jobcenter_id,
            purposes=frozenset(consent.purposes),
            categories=frozenset(consent.categories),
            directions=frozenset(Direction(d) for d in consent.directions),
            valid_from=as_utc(consent.valid_from),
            valid_until=as_utc(consent.valid_until),
            explicit_special_categories=frozenset(consent.explicit_special_categories),
            chain=chain,
        )

    def allows(
        self, session: Session, principal: Principal, action: Action, consent: Consent
    ) -> bool:
        """Whether the rules let ``principal`` do ``action`` with ``consent``."""
        return self._decide(session, principal, action, consent)

    def _decide(
        self, session: Session, principal: Principal, action: Action, consent: Consent
    ) -> bool:
        return self.guard.allows(session, principal, action, about=self.facts(consent))

    # -- reading --------------------------------------------------------------

    def get(self, session: Session, *, principal: Principal, consent_id: str) -> Consent:
        consent = repository.get(session, consent_id)
        if consent is None or not self._decide(session, principal, Action.READ_CONSENT, consent):
            raise NotFound("No such consent.", slug="consent-not-found")
        return consent

    def list(
        self,
        session: Session,
        *,
        principal: Principal,
        subject_id: str | None,
        statuses: Sequence[ConsentStatus] | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Consent], str | None]:
        self.guard.attempt(principal, Action.READ_CONSENT)
        acting = self.guard.acting(session, principal)
        # The query narrows by organisation; the policy has the last word on each row.
        return visible_page(
            lambda after, size: repository.visible_to(
                session,
                organisation_id=acting.organisation_id,
                everything=acting.organisation_kind.value == OrganisationKind.OPERATOR.value,
                subject_id=subject_id,
                statuses=statuses,
                after=after,
                limit=size,
            ),
            lambda consent: self._decide(session, principal, Action.READ_CONSENT, consent),
            lambda consent: consent.id,
            after=cursor,
            limit=limit,
        )

    # -- use --------------------------------------------------------------------

    @staticmethod
    def usage(session: Session, consents: Sequence[Consent]) -> dict[str, dict[str, Use]]:
        """Per consent, per question type asked under it: the count and the last use.

        A question type with a use limit appears even when unused (count 0)."""
        found = repository.use_by_question(session, [c.id for c in consents])
        result: dict[str, dict[str, Use]] = {}
        for consent in consents:
            used = {
                question: Use(count=count, last_used_at=last)
                for question, (count, last) in found.get(consent.id, {}).items()
            }
            for question in consent.use_limits:
                used.setdefault(question, Use(count=0, last_used_at=None))
            result[consent.id] = dict(sorted(used.items()))
        return result

    def use_left(self, session: Session, consent: Consent, *, question: str) -> int | None:
        """How many more queries of ``question`` the consent's use limit allows (None: no limit)."""
        limit = consent.use_limits.get(question)
        if limit is None:
            return None
        used = self.usage(session, [consent])[consent.id].get(question)
        return max(limit - (used.count if used else 0), 0)

    # -- recording -------------------------------------------------------------

    def render_text(
        self,
        session: Session,
        *,
        terms_language: str,
        purposes: Sequence[str],
        categories: Sequence[str],
        directions: Sequence[Direction],
        grantee: Organisation,
        jobcenter_id: str,
        valid_until: date,
    ) -> RenderedText:
        self._check_vocabulary(purposes=purposes, categories=categories, explicit=None)
        jobcenter = self._jobcenter(session, jobcenter_id)
        try:
            return self.texts.render(
                language=terms_language,
                catalogue=self.engine.catalogue,
                purposes=purposes,
                categories=categories,
                directions=directions,
                grantee=grantee.name,
                jobcenter=jobcenter.name,
                valid_until=valid_until,
            )
        except ConsentTextError as exc:
            raise Unprocessable(str(exc), slug="unsupported-language") from exc

    def record(
        self,
        session: Session,
        *,
        principal: Principal,
        body: ConsentCreate,
        trace_id: str | None = None,
        previous: Consent | None = None,
    ) -> Recorded:
        self.guard.attempt(principal, Action.WRITE_CONSENT)
        acting = self.guard.acting(session, principal)
        grantee = organisations.get_organisation(session, acting.organisation_id)
        assert grantee is not None
        subject = subjects.get(session, body.subject_id)
        if subject is None:
            raise NotFound("No such subject.", slug="subject-not-found")
        self._check_terms(session, body, grantee_id=grantee.id)
        self._check_capacity(subject, body.evidence)
        rendered = self.render_text(
            session,
            terms_language=body.language,
            purposes=body.purposes,
            categories=body.categories,
            directions=body.directions,
            grantee=grantee,
            jobcenter_id=body.jobcenter_id,
            valid_until=body.valid_until,
        )
        evidence = body.evidence
        if evidence.text_version is not None and evidence.text_version != rendered.version:
            raise Unprocessable(
                f"The text shown was version {evidence.text_version}; "
                f"the current version is {rendered.version}.",
                slug="text-version-outdated",
            )
        if evidence.text_sha256 is not None and evidence.text_sha256 != rendered.sha256:
            raise Unprocessable(
                "The SHA-256 of the text shown does not match the consent text for these terms.",
                slug="text-mismatch",
            )

        now = utcnow()
        consent_id = new_id("con")
        code = new_self_service_code()
        token = secrets.token_urlsafe(32) if evidence.channel is EvidenceChannel.OWN_PHONE else None
        attachment = self._attachment(evidence.attachment, consent_id=consent_id)
        consent = Consent(
            id=consent_id,
            version=previous.version + 1 if previous else 1,
            previous_id=previous.id if previous else None,
            subject_id=body.subject_id,
            grantee_id=grantee.id,
            jobcenter_id=body.jobcenter_id,
            named_users=sorted(set(body.named_users)),
            purposes=sorted(set(body.purposes)),
            categories=sorted(set(body.categories)),
            explicit_special_categories=sorted(set(body.explicit_special_categories)),
            directions=sorted({d.value for d in body.directions}),
            use_limits=dict(sorted(body.use_limits.items())),
            valid_from=now,
            valid_until=end_of_day(body.valid_until),
            status=ConsentStatus.PENDING if token else ConsentStatus.ACTIVE,
            status_reason_code=(
                StatusReason.AWAITING_CONFIRMATION
                if token
                else (StatusReason.AMENDED if previous else StatusReason.GRANTED)
            ),
            status_changed_at=now,
            language=body.language,
            text_version=rendered.version,
            text_sha256=rendered.sha256,
            evidence_channel=evidence.channel,
            evidence_sealed=self._evidence_sealed(evidence, consent_id=consent_id),
            attachment_sha256=attachment[0] if attachment else None,
            attachment_media_type=evidence.attachment.media_type if evidence.attachment else None,
            attachment_sealed=attachment[1] if attachment else None,
            recorded_by_user=principal.user_id,
            recorded_by_client=principal.client_id,
            recorded_at=now,
            activated_at=None if token else now,
            confirmation_hash=_hash_token(token) if token else None,
            confirmation_expires_at=now + self.confirmation_ttl if token else None,
            self_service_index=self.sealer.blind_index(
                normalise_code(code), domain=SELF_SERVICE_DOMAIN
            ),
            self_service_sealed=self.sealer.seal(
                code.encode("ascii"), context=f"consents/{consent_id}/self-service"
            ),
        )
        if not self._decide(session, principal, Action.WRITE_CONSENT, consent):
            raise Forbidden("The rules do not let you record this consent.", slug="consent-denied")
        repository.add(session, consent)
        actor = Actor(
            organisation_id=grantee.id, user_id=principal.user_id, client_id=principal.client_id
        )
        hashes = {"text": f"sha256:{rendered.sha256}"}
        if consent.attachment_sha256:
            hashes["attachment"] = f"sha256:{consent.attachment_sha256}"
        self.audit.record(
            session,
            AuditEvent(
                type=(
                    "consent.requested"
                    if token
                    else ("consent.amended" if previous else "consent.granted")
                ),
                actor=actor,
                subject_id=consent.subject_id,
                consent_id=consent.id,
                policy_version=self.engine.version,
                trace_id=trace_id,
                hashes=hashes,
                details={
                    "purposes": consent.purposes,
                    "categories": consent.categories,
                    "directions": consent.directions,
                    "jobcenter": consent.jobcenter_id,
                    "valid_until": consent.valid_until.isoformat(),
                    "channel": consent.evidence_channel.value,
                    "language": consent.language,
                    "text_version": consent.text_version,
                    "given_by": self._given_by(
                        evidence.legal_representative.relation.value
                        if evidence.legal_representative
                        else None
                    ),
                    "status": consent.status.value,
                    "status_reason": _code(consent),
                    **({"previous": previous.id} if previous else {}),
                },
            ),
        )
        if previous is not None and consent.status is ConsentStatus.ACTIVE:
            self._supersede(session, previous, by=consent, actor=actor, trace_id=trace_id)
        if consent.status is ConsentStatus.ACTIVE:
            self._notify(session, consent, "consent.amended" if previous else "consent.granted")
        return Recorded(consent=consent, confirmation_token=token)

    def amend(
        self,
        session: Session,
        *,
        principal: Principal,
        consent_id: str,
        terms: ConsentTerms,
        trace_id: str | None = None,
    ) -> Recorded:
        previous = self.get(session, principal=principal, consent_id=consent_id)
        if previous.status not in {ConsentStatus.ACTIVE, ConsentStatus.PENDING}:
            raise Conflict(
                f"A {previous.status.value} consent cannot be amended.",
                slug="consent-not-amendable",
            )
        body = ConsentCreate(
            **terms.model_dump(), subject_id=previous.subject_id, jobcenter_id=previous.jobcenter_id
        )
        return self.record(
            session, principal=principal, body=body, trace_id=trace_id, previous=previous
        )

    def _supersede(
        self,
        session: Session,
        previous: Consent,
        *,
        by: Consent,
        actor: Actor,
        trace_id: str | None,
    ) -> None:
        now = utcnow()
        self._set_status(
            previous, ConsentStatus.SUPERSEDED, StatusReason.SUPERSEDED_BY_AMENDMENT, at=now
        )
        previous.ended_at = now
        session.add(previous)
        self.audit.record(
            session,
            AuditEvent(
                type="consent.superseded",
                actor=actor,
                subject_id=previous.subject_id,
                consent_id=previous.id,
                trace_id=trace_id,
                details={"by": by.id, "status_reason": _code(previous)},
            ),
        )

    def _check_vocabulary(
        self, *, purposes: Sequence[str], categories: Sequence[str], explicit: Sequence[str] | None
    ) -> None:
        catalogue = self.engine.catalogue
        unknown = sorted(set(purposes) - set(catalogue.purposes))
        if unknown:
            raise Unprocessable(
                f"Unknown purpose(s): {', '.join(unknown)}.",
                slug="unknown-purpose",
                unknown=unknown,
            )
        unknown = sorted(set(categories) - set(catalogue.categories))
        if unknown:
            raise Unprocessable(
                f"Unknown categor(y/ies): {', '.join(unknown)}.",
                slug="unknown-category",
                unknown=unknown,
            )
        allowed = {c for p in purposes for c in catalogue.purposes[p].categories}
        outside = sorted(set(categories) - allowed)
        if outside:
            raise Unprocessable(
                f"Categor(y/ies) {', '.join(outside)} not allowed for the chosen purposes.",
                slug="category-not-allowed-for-purpose",
                categories=outside,
            )
        if explicit is not None:
            special = {c for c in categories if catalogue.categories[c].special}
            if special - set(explicit):
                raise Unprocessable(
                    "Special categories (Art. 9 GDPR) need the person's explicit consent: "
                    "list them in explicit_special_categories too.",
                    slug="special-category-not-explicit",
                    categories=sorted(special - set(explicit)),
                )
            if set(explicit) - special:
                raise Unprocessable(
                    "explicit_special_categories may only name special categories of the consent.",
                    slug="invalid-special-categories",
                )

    def _jobcenter(self, session: Session, jobcenter_id: str) -> Organisation:
        jobcenter = organisations.get_organisation(session, jobcenter_id)
        if jobcenter is None or jobcenter.kind is not OrganisationKind.JOBCENTER:
            raise Unprocessable("The jobcenter is not known.", slug="unknown-jobcenter")
        return jobcenter

    def _check_terms(self, session: Session, body: ConsentCreate, *, grantee_id: str) -> None:
        self._check_vocabulary(
            purposes=body.purposes,
            categories=body.categories,
            explicit=body.explicit_special_categories,
        )
        self._jobcenter(session, body.jobcenter_id)
        today = utcnow().astimezone(BERLIN).date()
        if body.valid_until < today:
            raise Unprocessable("valid_until lies in the past.", slug="validity-in-past")
        max_days = self.engine.limits.consent_max_validity_days
        if body.valid_until > today + timedelta(days=max_days):
            raise Unprocessable(
                f"A consent may last at most {max_days} days.",
                slug="validity-too-long",
                max_days=max_days,
            )
        for user_id in body.named_users:
            user = organisations.get_user(session, user_id)
            if user is None or user.organisation_id != grantee_id:
                raise Unprocessable(
                    "Named users must belong to your organisation.", slug="unknown-named-user"
                )
        questions = self.engine.catalogue.questions
        for question_id, count in body.use_limits.items():
            question = questions.get(question_id)
            if question is None or question.purpose not in body.purposes or count < 1:
                raise Unprocessable(
                    f"Use limit for '{question_id}' does not fit the consent.",
                    slug="invalid-use-limit",
                )

    def _attachment(
        self, attachment: Attachment | None, *, consent_id: str
    ) -> tuple[str, str] | None:
        if attachment is None:
            return None
        try:
            data = base64.b64decode(attachment.data_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(
                "The attachment is not valid base64.", slug="invalid-attachment"
            ) from exc
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise BadRequest("The attachment is too large.", slug="invalid-attachment")
        sealed = self.sealer.seal(data, context=f"consents/{consent_id}/attachment")
        return hashlib.sha256(data).hexdigest(), sealed

    def _check_capacity(self, subject: Subject, evidence: Evidence) -> None:
        """Below the age of capacity (``limits.yaml``, § 36 SGB I) on the day, a legal
        representative gives the consent, and the evidence must name them."""
        capacity_age = self.engine.limits.consent_capacity_age
        born = subject_service.reveal(subject, sealer=self.sealer).birth_date
        if age_on(utcnow().astimezone(BERLIN).date(), born=born) >= capacity_age:
            return
        if evidence.legal_representative is None:
            raise Unprocessable(
                f"The person is under {capacity_age} today: a legal representative gives the "
                "consent, named with their relation in evidence.legal_representative.",
                slug="legal-representative-required",
                capacity_age=capacity_age,
            )

    @staticmethod
    def _given_by(relation: str | None) -> dict[str, str]:
        if relation is None:
            return {"role": "person"}
        return {"role": "legal_representative", "relation": relation}

    def given_by(self, consent: Consent) -> dict[str, str]:
        """Who gave ``consent``: the person, or a legal representative (relation only)."""
        representative = None
        if consent.evidence_sealed is not None:
            private = json.loads(
                self.sealer.open(consent.evidence_sealed, context=f"consents/{consent.id}/evidence")
            )
            representative = private.get("legal_representative")
        return self._given_by(representative["relation"] if representative else None)

    def _evidence_sealed(self, evidence: Evidence, *, consent_id: str) -> str | None:
        representative = evidence.legal_representative
        private = {
            "interpreter": evidence.interpreter.model_dump() if evidence.interpreter else None,
            "notes": evidence.notes,
            "legal_representative": representative.model_dump(mode="json")
            if representative
            else None,
        }
        if not any(private.values()):
            return None
        return self.sealer.seal(
            json.dumps(private).encode("utf-8"), context=f"consents/{consent_id}/evidence"
        )

    # -- the person's confirmation on their own phone ---------------------------

    def by_confirmation(self, session: Session, *, token: str) -> Consent:
        consent = repository.find_by_confirmation(session, _hash_token(token))
        if consent is None or consent.status is not ConsentStatus.PENDING:
            raise NotFound("This link is unknown or was used already.", slug="confirmation-unknown")
        expires = consent.confirmation_expires_at
        if expires is None or as_utc(expires) <= utcnow():
            raise Gone(
                "This confirmation link has expired; ask for a new one.",
                slug="confirmation-link-expired",
            )
        return consent

    def confirm(self, session: Session, *, token: str, trace_id: str | None = None) -> Consent:
        consent = self.by_confirmation(session, token=token)
        now = utcnow()
        self._set_status(consent, ConsentStatus.ACTIVE, StatusReason.CONFIRMED_BY_PERSON, at=now)
        consent.activated_at = now
        consent.confirmation_hash = None  # one time only
        session.add(consent)
        self.audit.record(
            session,
            AuditEvent(
                type="consent.confirmed",
                actor=PERSON_BY_CONFIRMATION,
                subject_id=consent.subject_id,
                consent_id=consent.id,
                trace_id=trace_id,
                details={
                    "channel": EvidenceChannel.OWN_PHONE.value,
                    "status_reason": _code(consent),
                },
            ),
        )
        if consent.previous_id:
            previous = repository.get(session, consent.previous_id)
            if previous is not None and previous.status is ConsentStatus.ACTIVE:
                self._supersede(
                    session, previous, by=consent, actor=PERSON_BY_CONFIRMATION, trace_id=trace_id
                )
        self._notify(session, consent, "consent.confirmed")
        return consent

    # -- withdrawal and revocation --------------------------------------------------

    def _acting_on(
        self, session: Session, *, principal: Principal, consent_id: str
    ) -> tuple[Consent, Actor, bool]:
        """The consent locked for a change by one of its parties, the actor, and whether the
        actor is the jobcenter. Anyone else gets 404, as for reading."""
        self.guard.attempt(principal, Action.REVOKE_CONSENT)
        consent = repository.get_for_update(session, consent_id)
        if consent is None or not self._decide(session, principal, Action.REVOKE_CONSENT, consent):
            raise NotFound("No such consent.", slug="consent-not-found")
        organisation = organisations.get_organisation(session, principal.organisation_id)
        actor = principal.actor
        return (
            consent,
            actor,
            bool(organisation and organisation.kind is OrganisationKind.JOBCENTER),
        )

    def revoke(
        self,
        session: Session,
        *,
        principal: Principal,
        consent_id: str,
        body: RevokeRequest,
        trace_id: str | None = None,
    ) -> Consent:
        """End a consent: ``withdrawn`` when the channel says the person asked, else ``revoked``."""
        consent, actor, by_jobcenter = self._acting_on(
            session, principal=principal, consent_id=consent_id
        )
        if body.channel in PERSON_CHANNELS:
            reason = StatusReason.WITHDRAWN_BY_PERSON
        elif by_jobcenter:
            reason = StatusReason.REVOKED_BY_JOBCENTER
        else:
            reason = StatusReason.REVOKED_BY_MUNICIPALITY
        return self._end_by_declaration(
            session,
            consent,
            reason=reason,
            channel="jobcenter" if by_jobcenter else "integration_manager",
            declared_via=body.channel,
            text=body.reason,
            actor=actor,
            trace_id=trace_id,
        )

    def withdraw_by_code(
        self,
        session: Session,
        *,
        consent: Consent,
        decision: Decision,
        trace_id: str | None = None,
    ) -> Consent:
        """The person's own withdrawal with the self-service code of their receipt
        (``decision``: the rules let the code's holder withdraw ``consent``)."""
        locked = repository.get_for_update(session, consent.id)
        assert locked is not None
        return self._end_by_declaration(
            session,
            locked,
            reason=StatusReason.WITHDRAWN_BY_PERSON,
            channel="self_service",
            declared_via="self_service_code",
            text=None,
            actor=PERSON_BY_CODE,
            trace_id=trace_id,
            decision=decision,
        )

    def _end_by_declaration(
        self,
        session: Session,
        consent: Consent,
        *,
        reason: StatusReason,
        channel: str,
        declared_via: str,
        text: str | None,
        actor: Actor,
        trace_id: str | None,
        decision: Decision | None = None,
    ) -> Consent:
        if consent.status in {ConsentStatus.REVOKED, ConsentStatus.WITHDRAWN}:
            raise Conflict(
                f"The consent is already {consent.status.value}.",
                slug="consent-already-revoked",
                consent_status=consent.status.value,
            )
        if consent.status not in ENDABLE:
            raise Conflict(
                f"A {consent.status.value} consent cannot be revoked.", slug="consent-not-revocable"
            )
        status = (
            ConsentStatus.WITHDRAWN
            if reason is StatusReason.WITHDRAWN_BY_PERSON
            else ConsentStatus.REVOKED
        )
        now = utcnow()
        self._set_status(consent, status, reason, text=text, at=now)
        consent.ended_at = now
        consent.revocation_channel = channel
        consent.revoked_by = actor.organisation_id
        consent.confirmation_hash = None
        self._announce(
            session,
            consent,
            "consent.revoked",
            actor=actor,
            trace_id=trace_id,
            text=text,
            details={"channel": channel, "declared_via": declared_via},
            stops_work=True,
            decision=decision,
        )
        return consent

    def _announce(
        self,
        session: Session,
        consent: Consent,
        event_type: str,
        *,
        actor: Actor,
        trace_id: str | None,
        text: str | None,
        details: dict[str, str] | None = None,
        stops_work: bool = False,
        decision: Decision | None = None,
    ) -> None:
        """After a status change: the audit event (status, reason, the text's hash, the
        rules that decided), work under the consent stopped when it no longer permits,
        and both parties told."""
        session.add(consent)
        self.audit.record(
            session,
            AuditEvent(
                type=event_type,
                actor=actor,
                decision="permit" if decision else None,
                policies=decision.policy_ids if decision else (),
                policy_version=decision.policy_version if decision else None,
                subject_id=consent.subject_id,
                consent_id=consent.id,
                trace_id=trace_id,
                hashes=_text_hash(text),
                details={
                    "status": consent.status.value,
                    "status_reason": _code(consent),
                    **(details or {}),
                },
            ),
        )
        if stops_work:
            for hook in self.on_end:
                hook(session, consent, consent.status.value)
        self._notify(session, consent, event_type)

    # -- pause and resumption ------------------------------------------------------------

    def pause(
        self,
        session: Session,
        *,
        principal: Principal,
        consent_id: str,
        body: StatusChangeRequest,
        trace_id: str | None = None,
    ) -> Consent:
        """Nothing flows under a paused consent; open queries under it are cancelled."""
        consent, actor, by_jobcenter = self._acting_on(
            session, principal=principal, consent_id=consent_id
        )
        reason = (
            StatusReason.PAUSED_BY_JOBCENTER
            if by_jobcenter
            else StatusReason.PAUSED_BY_MUNICIPALITY
        )
        self._pause(
            session, consent, reason=reason, text=body.reason, actor=actor, trace_id=trace_id
        )
        return consent

    def _pause(
        self,
        session: Session,
        consent: Consent,
        *,
        reason: StatusReason,
        text: str | None,
        actor: Actor,
        trace_id: str | None,
        details: dict[str, str] | None = None,
    ) -> None:
        if consent.status is not ConsentStatus.ACTIVE:
            raise Conflict(
                f"A {consent.status.value} consent cannot be paused.",
                slug="consent-not-pausable",
                consent_status=consent.status.value,
            )
        self._set_status(consent, ConsentStatus.PAUSED, reason, text=text)
        self._announce(
            session,
            consent,
            "consent.paused",
            actor=actor,
            trace_id=trace_id,
            text=text,
            details=details,
            stops_work=True,
        )

    def resume(
        self,
        session: Session,
        *,
        principal: Principal,
        consent_id: str,
        body: StatusChangeRequest,
        trace_id: str | None = None,
    ) -> Consent:
        consent, actor, _ = self._acting_on(session, principal=principal, consent_id=consent_id)
        if consent.status is not ConsentStatus.PAUSED:
            raise Conflict(
                f"A {consent.status.value} consent is not paused.",
                slug="consent-not-paused",
                consent_status=consent.status.value,
            )
        if consent.status_reason_code is StatusReason.PAUSED_JOBCENTER_CHANGED:
            subject = subjects.get(session, consent.subject_id)
            assert subject is not None
            responsible = self._responsible_jobcenter_key(subject)
            jobcenter = organisations.get_organisation(session, consent.jobcenter_id)
            if responsible is not None and jobcenter and jobcenter.official_key != responsible:
                raise Conflict(
                    "Another jobcenter is responsible for the person now; "
                    "record a consent naming that jobcenter instead.",
                    slug="consent-jobcenter-not-responsible",
                    responsible_jobcenter=responsible,
                )
        self._set_status(consent, ConsentStatus.ACTIVE, StatusReason.RESUMED, text=body.reason)
        self._announce(
            session, consent, "consent.resumed", actor=actor, trace_id=trace_id, text=body.reason
        )
        return consent

    def _responsible_jobcenter_key(self, subject: Subject) -> str | None:
        if not subject.municipality_key:
            return None
        jobcenter = self.engine.routing.jobcenter_for_municipality(ags=subject.municipality_key)
        return jobcenter.key if jobcenter else None

    def pause_after_move(
        self, session: Session, *, subject: Subject, actor: Actor, trace_id: str | None = None
    ) -> tuple[Consent, ...]:
        """The person's municipality changed: pause each active consent whose jobcenter is no
        longer the responsible one (``routing.yaml``); the old jobcenter hears of it by webhook.
        Where routing names no jobcenter for the new municipality, nothing is paused."""
        responsible = self._responsible_jobcenter_key(subject)
        if responsible is None:
            return ()
        paused: list[Consent] = []
        for candidate in repository.for_subject(session, subject_id=subject.id):
            if candidate.status is not ConsentStatus.ACTIVE:
                continue
            jobcenter = organisations.get_organisation(session, candidate.jobcenter_id)
            if jobcenter is None or jobcenter.official_key == responsible:
                continue
            consent = repository.get_for_update(session, candidate.id)
            assert consent is not None
            self._pause(
                session,
                consent,
                reason=StatusReason.PAUSED_JOBCENTER_CHANGED,
                text=None,
                actor=actor,
                trace_id=trace_id,
                details={"responsible_jobcenter": responsible},
            )
            paused.append(consent)
        return tuple(paused)

    # -- the person's self-service code ------------------------------------------

    def by_self_service_code(self, session: Session, *, code: str) -> Consent:
        normalised = normalise_code(code)
        consent = None
        if len(normalised) == 16:
            consent = repository.find_by_self_service(
                session, self.sealer.blind_index(normalised, domain=SELF_SERVICE_DOMAIN)
            )
        if consent is None:
            raise NotFound("This code is not known.", slug="self-service-code-unknown")
        return consent

    def self_service_code(self, consent: Consent) -> str:
        return self.sealer.open(
            consent.self_service_sealed, context=f"consents/{consent.id}/self-service"
        ).decode("ascii")

    # -- expiry --------------------------------------------------------------------

    def expire_due(self, session: Session, *, now: datetime | None = None) -> int:
        moment = now or utcnow()
        due = repository.due_for_expiry(session, now=moment)
        for consent in due:
            self._set_status(
                consent, ConsentStatus.EXPIRED, StatusReason.EXPIRED_BY_DATE, at=moment
            )
            consent.ended_at = moment
            consent.confirmation_hash = None
            session.add(consent)
            self.audit.record(
                session,
                AuditEvent(
                    type="consent.expired",
                    subject_id=consent.subject_id,
                    consent_id=consent.id,
                    details={
                        "valid_until": as_utc(consent.valid_until).isoformat(),
                        "status_reason": _code(consent),
                    },
                ),
            )
            for hook in self.on_end:
                hook(session, consent, "expired")
            self._notify(session, consent, "consent.expired")
        return len(due)


def age_on(day: date, *, born: date) -> int:
    """Whole years of age on ``day``; a 29 February birthday counts from 1 March."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _code(consent: Consent) -> str | None:
    return consent.status_reason_code.value if consent.status_reason_code else None


def _text_hash(text: str | None) -> dict[str, str]:
    """The audit trail keeps only a hash of a reason someone wrote (it may name the person)."""
    return {"reason": f"sha256:{_hash_token(text)}"} if text else {}
