"""Value objects of the policy engine: the catalogue read from ``policies/``,
the routing table, and the request and decision of one authorisation.

Everything here is an immutable dataclass without behaviour beyond small
look-ups, so the rest of the gateway can pass these values around freely.
``PolicyRequest`` is what a caller hands to ``PolicyEngine.decide``; the
engine, not the caller, translates it to Cedar entities and context.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

#: A JSON value as read from YAML or a request body.
JSONValue = Any

#: Languages every purpose and category label must exist in: the languages
#: the consent texts are offered in.
LABEL_LANGUAGES: tuple[str, ...] = ("de", "en", "ar", "uk", "fa", "tr", "ru")

#: Languages a question label must exist in (staff-facing only).
QUESTION_LABEL_LANGUAGES: tuple[str, ...] = ("de", "en")


class Direction(StrEnum):
    MUNICIPALITY_ASKS_JOBCENTER = "municipality_asks_jobcenter"
    JOBCENTER_ASKS_MUNICIPALITY = "jobcenter_asks_municipality"


class Role(StrEnum):
    INTEGRATION_MANAGER = "integration_manager"
    JOBCENTER_STAFF = "jobcenter_staff"
    DPO = "dpo"
    ADMIN = "admin"


class OrganisationKind(StrEnum):
    MUNICIPALITY = "municipality"
    DISTRICT = "district"
    JOBCENTER = "jobcenter"
    OPERATOR = "operator"


class Resource(StrEnum):
    """What an action is about: the Cedar entity type of its resource."""

    QUESTION = "Query"  # a question type being asked or answered
    CONSENT = "Consent"
    PERSON = "Person"
    QUERY = "QueryRecord"  # one query that was asked
    RECORDS = "Records"  # an organisation's audit events or key figures


class Action(StrEnum):
    """Every use of personal data the rules decide (``rules.cedar``)."""

    ASK = "ask"
    ANSWER = "answer"
    READ_CONSENT = "read_consent"
    WRITE_CONSENT = "write_consent"
    REVOKE_CONSENT = "revoke_consent"
    READ_RECEIPT = "read_receipt"
    READ_SELF_SERVICE_CODE = "read_self_service_code"
    READ_BY_CODE = "read_by_code"
    WITHDRAW_BY_CODE = "withdraw_by_code"
    REGISTER_PERSON = "register_person"
    READ_PERSON = "read_person"
    MOVE_PERSON = "move_person"
    READ_QUERY = "read_query"
    READ_ANSWER = "read_answer"
    CANCEL_QUERY = "cancel_query"
    READ_AUDIT = "read_audit"
    READ_FIGURES = "read_figures"
    MANAGE_WEBHOOKS = "manage_webhooks"

    @property
    def resource(self) -> Resource:
        return _RESOURCES[self]

    @property
    def is_exchange(self) -> bool:
        """Whether the action is about a query (the Cedar action group ``exchange``)."""
        return self.resource is Resource.QUESTION

    @property
    def is_consent_action(self) -> bool:
        return self.resource is Resource.CONSENT

    @property
    def by_code(self) -> bool:
        """Whether the principal is the holder of a self-service code, not a user."""
        return self in (Action.READ_BY_CODE, Action.WITHDRAW_BY_CODE)


_RESOURCES: dict[Action, Resource] = {
    Action.ASK: Resource.QUESTION,
    Action.ANSWER: Resource.QUESTION,
    Action.READ_CONSENT: Resource.CONSENT,
    Action.WRITE_CONSENT: Resource.CONSENT,
    Action.REVOKE_CONSENT: Resource.CONSENT,
    Action.READ_RECEIPT: Resource.CONSENT,
    Action.READ_SELF_SERVICE_CODE: Resource.CONSENT,
    Action.READ_BY_CODE: Resource.CONSENT,
    Action.WITHDRAW_BY_CODE: Resource.CONSENT,
    Action.REGISTER_PERSON: Resource.PERSON,
    Action.READ_PERSON: Resource.PERSON,
    Action.MOVE_PERSON: Resource.PERSON,
    Action.READ_QUERY: Resource.QUERY,
    Action.READ_ANSWER: Resource.QUERY,
    Action.CANCEL_QUERY: Resource.QUERY,
    Action.READ_AUDIT: Resource.RECORDS,
    Action.READ_FIGURES: Resource.RECORDS,
    Action.MANAGE_WEBHOOKS: Resource.RECORDS,
}


class ConsentStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"
    EXPIRED = "expired"


class AdapterKind(StrEnum):
    INBOX = "inbox"
    REST = "rest"
    SIMULATOR = "simulator"


class EngineReason(StrEnum):
    """Reason codes the engine decides itself; all others come from the
    ``@reason`` annotations of the forbid rules (listed in ``reasons.yaml``)."""

    NOT_PERMITTED = "not_permitted"
    UNKNOWN_QUESTION = "unknown_question"
    POLICY_EVALUATION_ERROR = "policy_evaluation_error"


# --------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    id: str
    special: bool
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Purpose:
    id: str
    categories: tuple[str, ...]
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldCategory:
    """One field of an answer (or parameters) schema tagged with ``x-category``.

    ``path`` is slash-separated from the answer's root; ``*`` stands for every
    item of an array, e.g. ``/appointments/*/contact_name``.
    """

    path: str
    category: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LegalBasis:
    """Why a question may be asked: the person's consent, or a statute.

    A statutory question is decided without a consent; ``citation`` names the
    paragraph (e.g. ``§ 50 Abs. 1 SGB II``) and goes into its audit events.
    """

    statute: str | None = None

    @property
    def kind(self) -> str:
        return "consent" if self.statute is None else "statute"

    @property
    def needs_consent(self) -> bool:
        return self.statute is None

    def as_dict(self) -> dict[str, JSONValue]:
        if self.statute is None:
            return {"kind": "consent"}
        return {"kind": "statute", "citation": self.statute}


CONSENT = LegalBasis()


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionType:
    id: str
    direction: Direction
    purpose: str
    categories: tuple[str, ...]
    special_categories: tuple[str, ...]
    answer_schema: Mapping[str, JSONValue]
    parameters_schema: Mapping[str, JSONValue] | None
    deadline_days: int
    free_text: bool
    labels: Mapping[str, str]
    answer_fields: tuple[FieldCategory, ...]
    legal_basis: LegalBasis = CONSENT

    @property
    def optional_categories(self) -> tuple[str, ...]:
        """Categories of answer fields the question does not need: such
        fields are delivered only when the consent covers them."""
        needed = set(self.categories)
        seen: dict[str, None] = {}
        for answer_field in self.answer_fields:
            if answer_field.category not in needed:
                seen[answer_field.category] = None
        return tuple(seen)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """A stable reason code of a denial with its human titles (``reasons.yaml``)."""

    code: str
    titles: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalogue:
    purposes: Mapping[str, Purpose]
    categories: Mapping[str, Category]
    questions: Mapping[str, QuestionType]

    def special_categories(self) -> frozenset[str]:
        return frozenset(c.id for c in self.categories.values() if c.special)


#: § 36 Abs. 1 SGB I: from 15 a person acts on their own in social law.
CONSENT_CAPACITY_AGE = 15


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    questions_per_user_per_subject_per_day: int
    consent_max_validity_days: int = 730
    answer_retention_days: int = 30
    consent_capacity_age: int = CONSENT_CAPACITY_AGE


# --------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Jobcenter:
    key: str
    name: str
    adapter: AdapterKind
    endpoint: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class District:
    key: str
    name: str
    jobcenter: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Municipality:
    ags: str
    name: str
    jobcenter: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Routing:
    """Who answers for whom, keyed by official keys (AGS, district key,
    jobcenter key)."""

    jobcenters: Mapping[str, Jobcenter]
    districts: Mapping[str, District]
    municipalities: Mapping[str, Municipality]

    def jobcenter_for_municipality(self, *, ags: str) -> Jobcenter | None:
        """The jobcenter responsible for a municipality: its own entry, else
        its district's (the first five digits of the AGS), else none."""
        municipality = self.municipalities.get(ags)
        if municipality is not None:
            return self.jobcenters[municipality.jobcenter]
        district = self.districts.get(ags[:5])
        if district is not None:
            return self.jobcenters[district.jobcenter]
        return None

    def adapter_for(self, *, jobcenter_key: str) -> AdapterKind:
        """How a jobcenter answers; one the table does not list uses the inbox."""
        jobcenter = self.jobcenters.get(jobcenter_key)
        return AdapterKind.INBOX if jobcenter is None else jobcenter.adapter


# --------------------------------------------------------------------------
# Request and decision
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """A signed-in user (web) or the user a token acts for (JWT bearer grant).

    A token without a user is no principal at all: every rule needs a role.
    """

    user_id: str
    role: Role
    organisation_id: str
    organisation_kind: OrganisationKind


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeHolder:
    """Whoever holds a consent's self-service code: the person, as far as the
    gateway can tell. ``chain`` is the id of the first version of the consent
    the code belongs to (amendments keep it)."""

    consent_id: str
    chain: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonFacts:
    """Who has standing with one person.

    ``registrar`` registered the person first, ``registrars`` are all that
    registered or found them; ``consent_parties`` are the
    grantee and jobcenter of each consent about the person that is in force
    (pending, active or paused); ``answering`` are the organisations that
    answer an open query about the person; ``municipality_id`` is the
    organisation whose official key is the person's municipality key, and
    ``responsible_jobcenter_id`` the jobcenter ``routing.yaml`` names for it.
    """

    id: str
    registrar: str | None = None
    registrars: frozenset[str] = frozenset()
    consent_parties: frozenset[str] = frozenset()
    answering: frozenset[str] = frozenset()
    municipality_id: str | None = None
    responsible_jobcenter_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryFacts:
    """One asked query: who asked, who answers, who of the asking
    organisation may follow it (``named_users`` of its consent; empty: all)."""

    id: str
    asker_organisation_id: str
    asker_user_id: str | None
    answerer_organisation_id: str | None
    named_users: frozenset[str] = frozenset()
    open: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsFacts:
    """The records (audit events, key figures) one organisation holds, or,
    with ``owner_id`` None, those of the whole gateway."""

    owner_id: str | None = None
    owner_kind: OrganisationKind | None = None
    owner_parent_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentFacts:
    """What the rules need to know of one consent.

    ``valid_until`` is the first instant after validity (exclusive); both
    instants must be timezone-aware.
    """

    id: str
    status: ConsentStatus
    grantee_organisation_id: str
    jobcenter_organisation_id: str
    purposes: frozenset[str]
    categories: frozenset[str]
    directions: frozenset[Direction]
    valid_from: datetime
    valid_until: datetime
    explicit_special_categories: frozenset[str] = frozenset()
    #: the id of the first version: amendments are one chain (None: this is the first)
    chain: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRequest:
    """One authorisation question to the engine.

    For ``ask`` and ``answer`` name the question type; ``purpose`` and
    ``direction`` default to the question type's own. For the consent actions
    ``consent`` describes the consent acted on. ``now`` is passed in: the
    engine never reads the clock. ``questions_today`` counts the questions
    this user asked about this person today before this one;
    ``free_text_allowed`` is the setting of the principal's organisation.
    ``routed_jobcenter_id`` is the jobcenter organisation a query was routed
    to; when None, the consent's jobcenter. ``subject_registrar_id`` is the
    organisation that registered the person: the rules of statutory questions
    ask for it, as those run without a consent.

    The other actions name their resource's facts: ``consent`` for the
    consent actions (the principal is a ``CodeHolder`` for those by code),
    ``person`` for the person actions, ``query`` for a query asked,
    ``records`` for audit events and key figures.
    """

    principal: Principal | CodeHolder
    action: Action
    now: datetime
    question_id: str | None = None
    purpose: str | None = None
    direction: Direction | None = None
    consent: ConsentFacts | None = None
    questions_today: int = 0
    free_text_allowed: bool = False
    routed_jobcenter_id: str | None = None
    subject_registrar_id: str | None = None
    person: PersonFacts | None = None
    query: QueryFacts | None = None
    records: RecordsFacts | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome of one request.

    ``policy_ids`` are the ``@id`` of the rules that decided: the permits for
    an allowed request, the failing forbids for a denied one (empty when
    nothing permitted it). ``reasons`` are stable codes (``reasons.yaml``);
    ``drop_fields`` are the answer field paths to remove because the consent
    does not cover their category; ``uncovered_categories`` are the needed
    categories the consent lacks, for the problem detail.
    """

    allowed: bool
    policy_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    policy_version: str
    drop_fields: tuple[str, ...] = ()
    uncovered_categories: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, JSONValue]:
        return {
            "decision": "allow" if self.allowed else "deny",
            "allowed": self.allowed,
            "policy_ids": list(self.policy_ids),
            "reasons": list(self.reasons),
            "drop_fields": list(self.drop_fields),
            "uncovered_categories": list(self.uncovered_categories),
            "errors": list(self.errors),
            "policy_version": self.policy_version,
        }
