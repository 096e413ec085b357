"""The rules of routed queries: ask, decide, route, answer, deliver, cancel, expire.

Request path (DESIGN.md): token and scope -> consent -> policy decision ->
audit event -> route. ``ask`` decides and records (the caller commits, so the
audit event exists before anything leaves the gateway); ``route`` then hands
the query to its adapter and records the outcome in a second transaction.
Failed deliveries wait in the database (``next_attempt_at``) for the
scheduler, so a restart loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from adapters.base import (
    AdapterError,
    ConsentSummary,
    DeliveredQuery,
    DeliveryOutcome,
    InboxAdapter,
    JobcenterAdapter,
    LegalBasisSummary,
    PersonReference,
)
from adapters.registry import AdapterRegistry
from gateway.access.guard import AccessGuard
from gateway.audit.rfc8785 import canonical_bytes, payload_hash
from gateway.audit.service import SYSTEM, Actor, AuditEvent, AuditTrail
from gateway.auth.principal import Principal
from gateway.auth.scopes import Scope
from gateway.clock import as_utc, utcnow
from gateway.consents import repository as consents
from gateway.consents.models import Consent, ConsentStatus
from gateway.consents.service import ConsentService
from gateway.database import reader
from gateway.errors import BadRequest, Conflict, Forbidden, GatewayError, NotFound
from gateway.ids import new_id
from gateway.observability.metrics import Metrics
from gateway.observability.tracing import current_traceparent, tracer
from gateway.organisations import repository as organisations
from gateway.pagination import visible_page
from gateway.policy.engine import PolicyEngine
from gateway.policy.models import (
    CONSENT,
    Action,
    Decision,
    Direction,
    LegalBasis,
    PersonFacts,
    PolicyRequest,
    QueryFacts,
    QuestionType,
)
from gateway.policy.models import Principal as PolicyPrincipal
from gateway.queries import repository
from gateway.queries.models import Query, QueryStatus
from gateway.queries.schemas import QueryCreate
from gateway.sealing import Sealer
from gateway.subjects import repository as subjects
from gateway.subjects import service as subject_service
from gateway.subjects.areas import in_area
from gateway.subjects.models import Subject
from gateway.webhooks.service import WebhookService

BERLIN = ZoneInfo("Europe/Berlin")
# Why answers go when a consent is withdrawn or revoked, and why recipients are told.
ERASURE_BASIS = "Art. 17 Abs. 1 Buchst. b DSGVO"
NOTICE_BASIS = "Art. 17 Abs. 1 Buchst. b, Art. 19 DSGVO"
logger = structlog.get_logger(__name__)


class Unprocessable(GatewayError):
    status = 422
    default_slug = "invalid-query"
    title = "The query cannot be processed"


@dataclass(frozen=True)
class Asked:
    query: Query
    replay: bool
    decision: Decision | None = None


@dataclass(frozen=True)
class StatutoryParties:
    """The parties of a question a statute allows: no consent names them."""

    registrar_id: str  # the organisation that registered the person
    jobcenter_id: str | None  # the jobcenter responsible for the person's municipality


def _request_hash(body: QueryCreate) -> str:
    return hashlib.sha256(canonical_bytes(body.model_dump(mode="json"))).hexdigest()


@dataclass
class QueryService:
    engine: PolicyEngine
    guard: AccessGuard
    consents: ConsentService
    sealer: Sealer
    audit: AuditTrail
    adapters: AdapterRegistry
    webhooks: WebhookService
    issuer: str
    retry_base: timedelta = timedelta(seconds=30)
    metrics: Metrics | None = None

    # -- asking --------------------------------------------------------------

    def ask(
        self,
        session: Session,
        *,
        principal: Principal,
        body: QueryCreate,
        idempotency_key: str | None,
        trace_id: str | None = None,
    ) -> Asked:
        principal.require(Scope.QUERIES_ASK)
        if not idempotency_key or not 1 <= len(idempotency_key) <= 200:
            raise BadRequest(
                "The Idempotency-Key header is required (1 to 200 characters).",
                slug="idempotency-key-required",
            )
        request_hash = _request_hash(body)
        previous = repository.by_idempotency_key(
            session, client_id=principal.client_id, key=idempotency_key
        )
        if previous is not None:
            return self._replay(previous, principal=principal, request_hash=request_hash)

        acting = self.guard.acting(session, principal)
        question = self.engine.catalogue.questions.get(body.question)
        if question is None:
            raise Unprocessable(
                f"Unknown question type '{body.question}'.", slug="unknown-question"
            )
        problems = self.engine.validate_parameters(
            question_id=question.id, parameters=body.parameters
        )
        if problems:
            raise Unprocessable(
                "The parameters do not match the question type.",
                slug="invalid-parameters",
                errors=list(problems),
            )
        subject = subjects.get(session, body.subject_id)
        if subject is None:
            raise NotFound("No such subject.", slug="subject-not-found")

        direction = question.direction
        consent: Consent | None = None
        # A statutory question runs without consent, between the organisation
        # that registered the person and the jobcenter responsible for them.
        statutory = (
            self._statutory_parties(session, subject, asker_id=acting.organisation_id)
            if question.legal_basis.statute
            else None
        )
        if statutory is None:
            with tracer.start_as_current_span("consent.check") as span:
                consent = self._consent_for(
                    session,
                    subject_id=body.subject_id,
                    organisation_id=acting.organisation_id,
                    direction=direction,
                    purpose=body.purpose,
                )
                span.set_attribute("consent.found", consent is not None)
        now = utcnow()
        with tracer.start_as_current_span("policy.decide") as span:
            decision = self._decide_ask(
                session,
                acting=acting,
                question=question,
                body=body,
                consent=consent,
                statutory=statutory,
                now=now,
            )
            span.set_attribute("policy.allowed", decision.allowed)
            span.set_attribute("policy.reasons", list(decision.reasons))
        reasons = list(decision.reasons)
        if decision.allowed and consent is not None:
            reasons = self._consent_terms_violated(session, consent, principal, question)
        if self.metrics is not None:
            self.metrics.decision(action="ask", allowed=not reasons, reasons=reasons)
        query = Query(
            id=new_id("qry"),
            question=question.id,
            purpose=body.purpose,
            direction=direction.value,
            subject_id=body.subject_id,
            consent_id=consent.id if consent else None,
            asker_org_id=acting.organisation_id,
            asker_user_id=acting.user_id,
            asker_client_id=principal.client_id,
            status=QueryStatus.DENIED if reasons else QueryStatus.RECEIVED,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            parameters_sealed=None,
            note_sealed=None,
            policy_version=decision.policy_version,
            reasons=reasons,
            created_at=now,
            deadline=now + timedelta(days=question.deadline_days),
            next_attempt_at=None if reasons else now,
        )
        if not reasons:
            if statutory is not None:
                jobcenter_id, municipality_id = statutory.jobcenter_id, statutory.registrar_id
            else:
                assert consent is not None
                jobcenter_id, municipality_id = consent.jobcenter_id, consent.grantee_id
            query.answerer_org_id = (
                jobcenter_id
                if direction is Direction.MUNICIPALITY_ASKS_JOBCENTER
                else municipality_id
            )
            query.adapter = self._adapter_for(session, query.answerer_org_id).kind
            if query.adapter != InboxAdapter.kind:
                # The first delivery attempt is claimed with the ask (see ``route``): should
                # the process die before delivering, the scheduler retries after the backoff.
                query.attempts = 1
                query.next_attempt_at = now + self._backoff(1)
            if body.parameters:
                query.parameters_sealed = self.sealer.seal(
                    json.dumps(body.parameters).encode("utf-8"),
                    context=f"queries/{query.id}/parameters",
                )
            if body.note:
                query.note_sealed = self.sealer.seal(
                    body.note.encode("utf-8"), context=f"queries/{query.id}/note"
                )
        try:
            with session.begin_nested():
                repository.add(session, query)
        except IntegrityError:
            # The same key reached another process, which stored its query first.
            previous = repository.by_idempotency_key(
                session, client_id=principal.client_id, key=idempotency_key
            )
            if previous is None:
                raise
            return self._replay(previous, principal=principal, request_hash=request_hash)
        self.audit.record(
            session,
            AuditEvent(
                type="query.denied" if reasons else "query.asked",
                actor=principal.actor,
                subject_id=query.subject_id,
                consent_id=query.consent_id,
                query_id=query.id,
                purpose=query.purpose,
                decision="deny" if reasons else "permit",
                reasons=tuple(reasons),
                policies=decision.policy_ids,
                policy_version=decision.policy_version,
                trace_id=trace_id,
                hashes={"request": f"sha256:{request_hash}"},
                details={
                    "question": query.question,
                    "direction": query.direction,
                    "legal_basis": question.legal_basis.as_dict(),
                },
            ),
        )
        if not reasons:
            self._route_to_inbox(session, query)
        return Asked(query=query, replay=False, decision=decision)

    @staticmethod
    def _replay(previous: Query, *, principal: Principal, request_hash: str) -> Asked:
        """The query an Idempotency-Key already stands for, if the request is the same."""
        if previous.request_hash != request_hash or previous.asker_user_id != principal.user_id:
            raise Conflict(
                "This Idempotency-Key was used for a different request.",
                slug="idempotency-key-reused",
            )
        return Asked(query=previous, replay=True)

    def _route_to_inbox(self, session: Session, query: Query) -> None:
        """Route at once, in the ask's own transaction, when the answerer uses the inbox.

        The inbox keeps queries in this database for people to answer; handing a
        query to it involves no call outside, so there is nothing to claim
        before and record after (as ``route`` does for adapters that call out),
        and the ask costs one commit instead of three.
        """
        if query.adapter != InboxAdapter.kind:
            return
        answerer = organisations.get_organisation(session, query.answerer_org_id or "")
        jobcenter_key = (answerer.official_key if answerer else None) or "municipality"
        started = perf_counter()
        attributes = {"adapter.kind": query.adapter, "jobcenter": jobcenter_key}
        with tracer.start_as_current_span("adapter.deliver", attributes=attributes):
            query.attempts += 1
            self._routed(session, query)
        if self.metrics is not None:
            self.metrics.adapter_call(
                jobcenter=jobcenter_key,
                adapter=query.adapter,
                seconds=perf_counter() - started,
                error=None,
            )

    def _decide_ask(
        self,
        session: Session,
        *,
        acting: PolicyPrincipal,
        question: QuestionType,
        body: QueryCreate,
        consent: Consent | None,
        statutory: StatutoryParties | None,
        now: datetime,
    ) -> Decision:
        organisation = organisations.get_organisation(session, acting.organisation_id)
        assert organisation is not None
        return self.engine.decide(
            PolicyRequest(
                principal=acting,
                action=Action.ASK,
                now=now,
                question_id=question.id,
                purpose=body.purpose,
                direction=question.direction,
                consent=self.consents.facts(consent) if consent else None,
                questions_today=repository.count_asked(
                    session,
                    user_id=acting.user_id,
                    subject_id=body.subject_id,
                    since=_berlin_midnight(now),
                ),
                free_text_allowed=organisation.free_text_allowed,
                routed_jobcenter_id=statutory.jobcenter_id if statutory else None,
                subject_registrar_id=statutory.registrar_id if statutory else None,
            )
        )

    def _statutory_parties(
        self, session: Session, subject: Subject, *, asker_id: str
    ) -> StatutoryParties:
        """Who takes part in a statutory question about ``subject``: the organisation
        that registered the person, and the jobcenter that ``routing.yaml`` makes
        responsible for the person's municipality (None when there is none).

        The registering organisation asks only about persons of its own area: the
        person's key picks the jobcenter, so a key outside it (registered before keys
        were checked, or the person moved away) would reach another area's jobcenter.
        Anyone else is refused by the rules (``statute.*``) and learns nothing here."""
        if subject.municipality_key and subject.registered_by == asker_id:
            asker = organisations.get_organisation(session, asker_id)
            if asker is not None and not in_area(
                session,
                organisation=asker,
                key=subject.municipality_key,
                routing=self.engine.routing,
            ):
                raise Forbidden(
                    "The person's municipality lies outside your organisation's area, so no "
                    "question under a statute goes to its jobcenter from you. Ask with the "
                    "person's consent, or leave it to the organisation responsible there.",
                    slug="municipality-outside-area",
                )
        jobcenter_id: str | None = None
        if subject.municipality_key:
            responsible = self.engine.routing.jobcenter_for_municipality(
                ags=subject.municipality_key
            )
            if responsible is not None:
                found = organisations.find_organisation_by_key(session, responsible.key)
                jobcenter_id = found.id if found is not None else None
        return StatutoryParties(registrar_id=subject.registered_by, jobcenter_id=jobcenter_id)

    def legal_basis(self, query: Query) -> LegalBasis:
        """Why ``query`` may be asked: its consent, or the statute of its question type."""
        question = self.engine.catalogue.questions.get(query.question)
        if question is None or query.consent_id is not None:
            return CONSENT
        return question.legal_basis

    @staticmethod
    def _registrar(session: Session, query: Query) -> str | None:
        subject = subjects.get(session, query.subject_id)
        return subject.registered_by if subject is not None else None

    @staticmethod
    def _jobcenter_side(query: Query) -> str | None:
        """The jobcenter taking part in ``query``, whichever side asks."""
        if query.direction == Direction.MUNICIPALITY_ASKS_JOBCENTER.value:
            return query.answerer_org_id
        return query.asker_org_id

    def _consent_for(
        self,
        session: Session,
        *,
        subject_id: str,
        organisation_id: str,
        direction: Direction,
        purpose: str,
    ) -> Consent | None:
        """The consent the question runs under: the best fit, so a denial names the real gap."""
        if direction is Direction.MUNICIPALITY_ASKS_JOBCENTER:
            candidates = consents.for_subject(
                session, subject_id=subject_id, grantee_id=organisation_id
            )
        else:
            candidates = consents.for_subject(
                session, subject_id=subject_id, jobcenter_id=organisation_id
            )
        if not candidates:
            return None

        def fit(consent: Consent) -> tuple[bool, bool, bool, datetime]:
            return (
                consent.status is ConsentStatus.ACTIVE,
                purpose in consent.purposes,
                direction.value in consent.directions,
                as_utc(consent.recorded_at),
            )

        return max(candidates, key=fit)

    def _consent_terms_violated(
        self, session: Session, consent: Consent, principal: Principal, question: QuestionType
    ) -> list[str]:
        """Terms of the individual consent that the general rules cannot know."""
        if consent.named_users and principal.user_id not in consent.named_users:
            return ["user_not_named_in_consent"]
        if self.consents.use_left(session, consent, question=question.id) == 0:
            return ["use_limit_exceeded"]
        return []

    def _adapter_for(self, session: Session, organisation_id: str | None) -> JobcenterAdapter:
        organisation = organisations.get_organisation(session, organisation_id or "")
        if organisation is None or organisation.kind.value != "jobcenter":
            return self.adapters.for_key(None)
        return self.adapters.for_key(organisation.official_key)

    # -- routing ------------------------------------------------------------------

    def route(
        self,
        engine: Engine,
        query_id: str,
        *,
        traceparent: str | None = None,
        claimed: bool = False,
    ) -> None:
        """Deliver a received query to its adapter; the outcome is recorded, never lost.

        The attempt is claimed (counted, the next one scheduled) in a commit before
        the network call, so a crash leaves a retry, not a loss. ``claimed``: the
        ask's own transaction made that claim (``ask`` does for every query it leaves
        received), and what the adapter needs is only read here, without the write
        lock. A query whose consent is no longer active (amended meanwhile, say) is
        cancelled instead; a revocation has cancelled its queries itself.
        """
        prepared = self._prepare_delivery(
            engine, query_id, traceparent=traceparent, claimed=claimed
        )
        if prepared is None:
            return
        delivered, adapter = prepared

        started = perf_counter()
        with tracer.start_as_current_span(
            "adapter.deliver",
            attributes={"adapter.kind": adapter.kind, "jobcenter": delivered.jobcenter_key},
        ) as span:
            try:
                delivery = adapter.deliver(delivered)
                error: AdapterError | None = None
            except AdapterError as exc:
                error = exc
                span.set_attribute("adapter.error", type(exc).__name__)
        if self.metrics is not None:
            self.metrics.adapter_call(
                jobcenter=delivered.jobcenter_key or "municipality",
                adapter=adapter.kind,
                seconds=perf_counter() - started,
                error=type(error).__name__ if error else None,
            )

        with Session(engine, expire_on_commit=False) as session:
            query = repository.get_for_update(session, query_id)
            if query is None or query.status is not QueryStatus.RECEIVED:
                session.commit()
                return  # revoked or cancelled meanwhile
            if error is not None:
                self._delivery_failed(session, query, error)
            else:
                self._routed(session, query)
                if delivery.outcome is DeliveryOutcome.ANSWERED and delivery.answer is not None:
                    self._store_answer(
                        session,
                        query,
                        delivery.answer,
                        actor=Actor(organisation_id=query.answerer_org_id, via="adapter"),
                    )
            session.commit()

    def _prepare_delivery(
        self, engine: Engine, query_id: str, *, traceparent: str | None, claimed: bool
    ) -> tuple[DeliveredQuery, JobcenterAdapter] | None:
        """What the adapter gets and which adapter, with the attempt claimed; None when
        there is nothing to deliver (no longer received, or its consent has ended)."""
        with Session(reader(engine) if claimed else engine, expire_on_commit=False) as session:
            query = repository.get(session, query_id)
            if query is None or query.status is not QueryStatus.RECEIVED:
                return None
            consent = consents.get(session, query.consent_id or "")
            consent_ended = self.legal_basis(query).needs_consent and (
                consent is None or consent.status is not ConsentStatus.ACTIVE
            )
            if not consent_ended:
                delivered = self._delivered_query(
                    session, query, consent, traceparent=traceparent or current_traceparent()
                )
                adapter = self._adapter_for(session, query.answerer_org_id)
                if not claimed:
                    query.attempts += 1
                    query.next_attempt_at = utcnow() + self._backoff(query.attempts)
                    session.add(query)
                    session.commit()
                return delivered, adapter
        # Cancelled in a transaction of its own: a claimed query was read without the lock.
        with Session(engine, expire_on_commit=False) as session:
            query = repository.get_for_update(session, query_id)
            if query is not None and query.status is QueryStatus.RECEIVED:
                self._end(session, query, QueryStatus.CANCELLED, reason="consent_not_active")
            session.commit()
        return None

    def _backoff(self, attempts: int) -> timedelta:
        factor: int = 2 ** min(attempts - 1, 8)
        return self.retry_base * factor

    def _delivered_query(
        self, session: Session, query: Query, consent: Consent | None, *, traceparent: str | None
    ) -> DeliveredQuery:
        subject = subjects.get(session, query.subject_id)
        assert subject is not None
        identity = subject_service.reveal(subject, sealer=self.sealer)
        basis = self.legal_basis(query)
        answerer = organisations.get_organisation(session, query.answerer_org_id or "")
        answerer_key = (answerer.official_key if answerer else None) or ""
        parameters: dict[str, Any] = (
            json.loads(
                self.sealer.open(query.parameters_sealed, context=f"queries/{query.id}/parameters")
            )
            if query.parameters_sealed
            else {}
        )
        return DeliveredQuery(
            query_id=query.id,
            jobcenter_key=answerer_key,
            question=query.question,
            purpose=query.purpose,
            direction=query.direction,
            person=PersonReference(
                subject_id=subject.id,
                given_name=identity.given_name,
                family_name=identity.family_name,
                birth_date=identity.birth_date,
                jobcenter_customer_number=identity.jobcenter_customer_number,
            ),
            consent=None
            if consent is None
            else ConsentSummary(
                consent_id=consent.id,
                purposes=tuple(consent.purposes),
                categories=tuple(consent.categories),
                valid_until=as_utc(consent.valid_until),
            ),
            legal_basis=LegalBasisSummary(kind=basis.kind, citation=basis.statute),
            deadline=as_utc(query.deadline),
            parameters=parameters,
            callback_url=f"{self.issuer}/v1/adapter-callbacks/{answerer_key}",
            traceparent=traceparent,
        )

    def _routed(self, session: Session, query: Query) -> None:
        query.status = QueryStatus.ROUTED
        query.routed_at = utcnow()
        query.next_attempt_at = None
        query.last_error = None
        session.add(query)
        self.audit.record(
            session,
            AuditEvent(
                type="query.routed",
                subject_id=query.subject_id,
                consent_id=query.consent_id,
                query_id=query.id,
                purpose=query.purpose,
                details={"adapter": query.adapter, "attempts": query.attempts},
            ),
        )
        self.webhooks.enqueue(
            session,
            organisation_ids=[query.answerer_org_id or ""],
            event_type="query.routed",
            data={
                "query_id": query.id,
                "question": query.question,
                "deadline": as_utc(query.deadline).isoformat(),
            },
        )

    def _delivery_failed(self, session: Session, query: Query, error: AdapterError) -> None:
        # The adapter's message names status codes and causes, never personal data.
        query.last_error = f"{type(error).__name__}: {error.message}"[:300]
        retry_at = utcnow() + self._backoff(query.attempts)
        if error.retryable and retry_at < as_utc(query.deadline):
            query.next_attempt_at = retry_at
            session.add(query)
            logger.info("query_delivery_retry", query_id=query.id, error=type(error).__name__)
            return
        self._end(session, query, QueryStatus.FAILED, reason=type(error).__name__)

    # -- answering --------------------------------------------------------------------

    def answer(
        self,
        session: Session,
        *,
        principal: Principal,
        query_id: str,
        answer: dict[str, Any],
        trace_id: str | None = None,
    ) -> Query:
        principal.require(Scope.QUERIES_ANSWER)
        acting = self.guard.acting(session, principal)
        query = repository.get_for_update(session, query_id)
        if query is None or query.answerer_org_id != acting.organisation_id:
            raise NotFound("No such query.", slug="query-not-found")
        consent = consents.get(session, query.consent_id or "")
        if query.status is QueryStatus.CANCELLED:
            self.audit.record(
                session,
                AuditEvent(
                    type="query.answer_refused",
                    actor=principal.actor,
                    subject_id=query.subject_id,
                    consent_id=query.consent_id,
                    query_id=query.id,
                    purpose=query.purpose,
                    decision="deny",
                    reasons=("query_cancelled",),
                    trace_id=trace_id,
                    hashes={"answer": payload_hash(answer)},
                ),
            )
            raise QueryCancelled(
                "The query was cancelled (the consent was revoked or the asker withdrew it); "
                "the answer is not accepted.",
                slug="query-cancelled",
            )
        if query.status is not QueryStatus.ROUTED:
            raise Conflict(f"The query is {query.status.value}, not open.", slug="query-not-open")
        decision = self.engine.decide(
            PolicyRequest(
                principal=acting,
                action=Action.ANSWER,
                now=utcnow(),
                question_id=query.question,
                purpose=query.purpose,
                direction=Direction(query.direction),
                consent=self.consents.facts(consent) if consent else None,
                routed_jobcenter_id=self._jobcenter_side(query),
                subject_registrar_id=self._registrar(session, query),
            )
        )
        if not decision.allowed:
            raise Forbidden(
                "The rules do not let you answer this query.",
                slug="answer-denied",
                reasons=list(decision.reasons),
            )
        problems = self.engine.validate_answer(question_id=query.question, answer=answer)
        if problems:
            raise Unprocessable(
                "The answer does not match the question's answer schema.",
                slug="invalid-answer",
                errors=list(problems),
            )
        self._store_answer(session, query, answer, actor=principal.actor, trace_id=trace_id)
        return query

    def _store_answer(
        self,
        session: Session,
        query: Query,
        answer: dict[str, Any],
        *,
        actor: Actor,
        trace_id: str | None = None,
    ) -> None:
        consent = consents.get(session, query.consent_id or "")
        reduced = answer
        dropped: list[str] = []
        if consent is not None:
            # Under a consent, only what it covers; under a statute, what the
            # question's answer schema names (already validated).
            facts = self.consents.facts(consent)
            reduced = self.engine.reduce_answer(
                question_id=query.question, answer=answer, consent=facts
            )
            question = self.engine.question(question_id=query.question)
            dropped = list(self.engine.drop_fields(question=question, consent=facts))
        now = utcnow()
        query.answer_sealed = self.sealer.seal(
            canonical_bytes(reduced), context=f"queries/{query.id}/answer"
        )
        query.answer_sha256 = hashlib.sha256(canonical_bytes(reduced)).hexdigest()
        query.dropped_fields = dropped
        query.status = QueryStatus.ANSWERED
        query.answered_at = now
        query.ended_at = now
        query.next_attempt_at = None
        query.retention_until = now + timedelta(days=self.engine.limits.answer_retention_days)
        session.add(query)
        self.audit.record(
            session,
            AuditEvent(
                type="query.answered",
                actor=actor,
                subject_id=query.subject_id,
                consent_id=query.consent_id,
                query_id=query.id,
                purpose=query.purpose,
                trace_id=trace_id,
                hashes={
                    "answer": f"sha256:{query.answer_sha256}",
                    "received": payload_hash(answer),
                },
                details={"dropped_fields": dropped},
            ),
        )
        self.webhooks.enqueue(
            session,
            organisation_ids=[query.asker_org_id],
            event_type="query.answered",
            data={"query_id": query.id, "status": query.status.value},
        )

    def answer_from_adapter(
        self, session: Session, *, jobcenter_key: str, query_id: str, answer: dict[str, Any]
    ) -> Query:
        """A later answer that a jobcenter system sent through its signed callback."""
        query = repository.get_for_update(session, query_id)
        answerer = organisations.find_organisation_by_key(session, jobcenter_key)
        if query is None or answerer is None or query.answerer_org_id != answerer.id:
            raise NotFound("No such query.", slug="query-not-found")
        if query.status is QueryStatus.ANSWERED:
            return query  # a repeated callback: acknowledged again, stored once
        if query.status is not QueryStatus.ROUTED:
            raise Conflict(f"The query is {query.status.value}, not open.", slug="query-not-open")
        problems = self.engine.validate_answer(question_id=query.question, answer=answer)
        if problems:
            raise Unprocessable(
                "The answer does not match the question's answer schema.",
                slug="invalid-answer",
                errors=list(problems),
            )
        self._store_answer(session, query, answer, actor=Actor(organisation_id=answerer.id))
        return query

    # -- reading ---------------------------------------------------------------------------

    def facts(self, session: Session, query: Query) -> QueryFacts:
        """What the rules know of one asked query."""
        consent = consents.get(session, query.consent_id) if query.consent_id else None
        return QueryFacts(
            id=query.id,
            asker_organisation_id=query.asker_org_id,
            asker_user_id=query.asker_user_id,
            answerer_organisation_id=query.answerer_org_id,
            named_users=frozenset(consent.named_users if consent is not None else ()),
            open=query.status.open,
        )

    def get(self, session: Session, *, principal: Principal, query_id: str) -> Query:
        self.guard.attempt(principal, Action.READ_QUERY)
        query = repository.get(session, query_id)
        if query is None or not self._may_see(session, principal, query):
            raise NotFound("No such query.", slug="query-not-found")
        return query

    def _may_see(self, session: Session, principal: Principal, query: Query) -> bool:
        return self.guard.allows(
            session, principal, Action.READ_QUERY, about=self.facts(session, query)
        )

    def read_answer(
        self, session: Session, *, principal: Principal, query: Query, trace_id: str | None = None
    ) -> dict[str, Any] | None:
        """The answer for its asker; the first read is recorded as the delivery."""
        if query.answer_sealed is None:
            return None
        decision = self.guard.decide_if_attemptable(
            session, principal, Action.READ_ANSWER, about=self.facts(session, query)
        )
        if decision is None or not decision.allowed:
            return None
        answer: dict[str, Any] = json.loads(
            self.sealer.open(query.answer_sealed, context=f"queries/{query.id}/answer")
        )
        if query.delivered_at is None:
            query.delivered_at = utcnow()
            session.add(query)
            self.audit.record(
                session,
                AuditEvent(
                    type="query.delivered",
                    actor=principal.actor,
                    subject_id=query.subject_id,
                    consent_id=query.consent_id,
                    query_id=query.id,
                    purpose=query.purpose,
                    decision="permit",
                    policies=decision.policy_ids,
                    policy_version=decision.policy_version,
                    trace_id=trace_id,
                    hashes={"answer": f"sha256:{query.answer_sha256}"},
                ),
            )
        return answer

    def person_for_answerer(
        self, session: Session, *, principal: Principal, query: Query
    ) -> dict[str, Any] | None:
        """Who the question is about, for the answering side only, while it is open
        (the rule ``person.read.staff_with_standing``: those answering an open query)."""
        if query.answerer_org_id != principal.organisation_id or not query.status.open:
            return None
        subject = subjects.get(session, query.subject_id)
        assert subject is not None
        if not self.guard.allows(
            session,
            principal,
            Action.READ_PERSON,
            about=PersonFacts(id=subject.id, answering=frozenset({query.answerer_org_id})),
        ):
            return None
        identity = subject_service.reveal(subject, sealer=self.sealer)
        return {
            "given_name": identity.given_name,
            "family_name": identity.family_name,
            "birth_date": identity.birth_date.isoformat(),
            "jobcenter_customer_number": identity.jobcenter_customer_number,
        }

    def parameters_for(self, query: Query) -> dict[str, Any] | None:
        if query.parameters_sealed is None:
            return None
        parameters: dict[str, Any] = json.loads(
            self.sealer.open(query.parameters_sealed, context=f"queries/{query.id}/parameters")
        )
        return parameters

    def note_for(self, query: Query) -> str | None:
        if query.note_sealed is None:
            return None
        return self.sealer.open(query.note_sealed, context=f"queries/{query.id}/note").decode(
            "utf-8"
        )

    def list(
        self,
        session: Session,
        *,
        principal: Principal,
        status: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Query], str | None]:
        self.guard.attempt(principal, Action.READ_QUERY)
        self.guard.acting(session, principal)  # a token without a user lists nothing
        if status == "open":
            statuses: Sequence[QueryStatus] | None = [QueryStatus.ROUTED]
            answering_only = True
        else:
            try:
                statuses = [QueryStatus(status)] if status else None
            except ValueError as exc:
                raise BadRequest(f"Unknown status '{status}'.", slug="invalid-status") from exc
            answering_only = False
        return visible_page(
            lambda after, size: repository.visible(
                session,
                organisation_id=principal.organisation_id,
                statuses=statuses,
                answering_only=answering_only,
                after=after,
                limit=size,
            ),
            lambda query: self._may_see(session, principal, query),
            lambda query: query.id,
            after=cursor,
            limit=limit,
        )

    def cancel(
        self, session: Session, *, principal: Principal, query_id: str, trace_id: str | None = None
    ) -> Query:
        self.guard.attempt(principal, Action.CANCEL_QUERY)
        query = repository.get_for_update(session, query_id)
        if query is None or not self.guard.allows(
            session, principal, Action.CANCEL_QUERY, about=self.facts(session, query)
        ):
            raise NotFound("No such query.", slug="query-not-found")
        if not query.status.open:
            raise Conflict(f"The query is {query.status.value}, not open.", slug="query-not-open")
        self._end(
            session,
            query,
            QueryStatus.CANCELLED,
            reason="withdrawn_by_asker",
            actor=principal.actor,
            trace_id=trace_id,
        )
        return query

    # -- endings ------------------------------------------------------------------------------

    def _end(
        self,
        session: Session,
        query: Query,
        status: QueryStatus,
        *,
        reason: str,
        actor: Actor | None = None,
        trace_id: str | None = None,
    ) -> None:
        query.status = status
        query.ended_at = utcnow()
        query.next_attempt_at = None
        if query.answer_sealed is not None and query.delivered_at is None:
            query.answer_sealed = None  # an answer not yet delivered never will be
        session.add(query)
        self.audit.record(
            session,
            AuditEvent(
                type=f"query.{status.value}",
                actor=actor or SYSTEM,
                subject_id=query.subject_id,
                consent_id=query.consent_id,
                query_id=query.id,
                purpose=query.purpose,
                reasons=(reason,),
                trace_id=trace_id,
            ),
        )
        self.webhooks.enqueue(
            session,
            organisation_ids=[query.asker_org_id, query.answerer_org_id or ""],
            event_type=f"query.{status.value}",
            data={"query_id": query.id, "status": status.value, "reason": reason},
        )

    def on_consent_end(self, session: Session, consent: Consent, why: str) -> None:
        """The consent ended or was paused: open queries are cancelled, undelivered answers
        stopped. On withdrawal or revocation the answers themselves go, too (GDPR Art. 17):
        the gateway deletes those it holds, one audit event each, and asks every organisation
        that received answers under the consent to delete them (Art. 19), by a signed webhook."""
        if why in {ConsentStatus.WITHDRAWN.value, ConsentStatus.REVOKED.value}:
            self._erase_answers(session, consent, reason=f"consent_{why}")
        for query in repository.open_under_consent(session, consent.id):
            self._end(session, query, QueryStatus.CANCELLED, reason=f"consent_{why}")

    def _erase_answers(self, session: Session, consent: Consent, *, reason: str) -> None:
        received: dict[str, list[str]] = {}
        # Answers given under earlier versions of the consent end with it, too.
        for query in repository.answered_under_consents(
            session, consents.versions(session, consent)
        ):
            if query.delivered_at is not None:
                received.setdefault(query.asker_org_id, []).append(query.id)
            if query.answer_sealed is not None:  # else deleted at the end of its retention
                self._delete_answer(session, query, reason=reason, legal_basis=ERASURE_BASIS)
        for organisation_id, query_ids in sorted(received.items()):
            notices = self.webhooks.enqueue(
                session,
                organisation_ids=[organisation_id],
                event_type="consent.deletion_requested",
                data={
                    "consent_id": consent.id,
                    "subject_id": consent.subject_id,
                    "status": consent.status.value,
                    "query_ids": query_ids,
                    "legal_basis": NOTICE_BASIS,
                },
            )
            self.audit.record(
                session,
                AuditEvent(
                    type="consent.deletion_requested",
                    subject_id=consent.subject_id,
                    consent_id=consent.id,
                    reasons=(reason,),
                    details={
                        "recipient": organisation_id,
                        "query_ids": query_ids,
                        "webhooks": notices,
                        "legal_basis": NOTICE_BASIS,
                    },
                ),
            )

    def _delete_answer(
        self, session: Session, query: Query, *, reason: str, legal_basis: str | None = None
    ) -> None:
        """Delete the sealed answer the gateway holds; the trail keeps its hash and why."""
        query.answer_sealed = None
        session.add(query)
        self.audit.record(
            session,
            AuditEvent(
                type="query.answer_deleted",
                subject_id=query.subject_id,
                consent_id=query.consent_id,
                query_id=query.id,
                purpose=query.purpose,
                reasons=(reason,),
                hashes={"answer": f"sha256:{query.answer_sha256}"},
                details={"legal_basis": legal_basis} if legal_basis else {},
            ),
        )

    # -- the scheduler ---------------------------------------------------------------------------

    def tick(self, engine: Engine) -> None:
        now = utcnow()
        with Session(engine) as session:
            for query in repository.past_deadline(session, now=now):
                self._end(session, query, QueryStatus.EXPIRED, reason="deadline_passed")
            for query in repository.past_retention(session, now=now):
                self._delete_answer(session, query, reason="retention_ended")
            due = repository.due_for_delivery(session, now=now)
            session.commit()
        for query_id in due:
            self.route(engine, query_id)


class QueryCancelled(GatewayError):
    """A late answer to a cancelled query: refused, and the refusal is audited."""

    status = 409
    default_slug = "query-cancelled"
    title = "The query is no longer open"


def _berlin_midnight(moment: datetime) -> datetime:
    day: date = moment.astimezone(BERLIN).date()
    return datetime.combine(day, time(0, 0), tzinfo=BERLIN)
