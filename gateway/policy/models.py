"""Value objects of the policy engine: the catalogue read from ``policies/``,
the routing table, and the request and decision of one authorisation.

Everything here is an immutable dataclass without behaviour beyond small
look-ups, so the rest of the gateway can pass these values around freely.
``PolicyRequest`` is what a caller hands to ``PolicyEngine.decide``; the
engine, not the caller, translates it to Cedar entities and context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

#: A JSON value as read from YAML or a request body.
JSONValue = Any

_E = TypeVar("_E", bound=StrEnum)

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


class Action(StrEnum):
    ASK = "ask"
    ANSWER = "answer"
    READ_CONSENT = "read_consent"
    WRITE_CONSENT = "write_consent"
    REVOKE_CONSENT = "revoke_consent"
    READ_AUDIT = "read_audit"

    @property
    def is_exchange(self) -> bool:
        """Whether the action is about a query (the Cedar action group ``exchange``)."""
        return self in (Action.ASK, Action.ANSWER)

    @property
    def is_consent_action(self) -> bool:
        return self in (Action.READ_CONSENT, Action.WRITE_CONSENT, Action.REVOKE_CONSENT)


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
    user_id: str
    role: Role
    organisation_id: str
    organisation_kind: OrganisationKind


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
    """

    principal: Principal
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


# --------------------------------------------------------------------------
# Requests as data (CLI explain, policy test cases)
# --------------------------------------------------------------------------


class RequestFormatError(ValueError):
    """A request given as data is malformed; ``path`` names the offending key."""

    def __init__(self, *, path: Sequence[str | int], reason: str) -> None:
        self.path = tuple(path)
        self.reason = reason
        where = "/".join(str(part) for part in self.path) or "request"
        super().__init__(f"{where}: {reason}")


def request_from_mapping(data: Mapping[str, JSONValue]) -> PolicyRequest:
    """Build a ``PolicyRequest`` from JSON-like data with the dataclass field
    names; datetimes as ISO 8601 strings (or datetimes, as YAML reads them)."""
    reader = _Reader(data, ())
    principal = reader.mapping("principal")
    consent_data = reader.optional_mapping("consent")
    request = PolicyRequest(
        principal=Principal(
            user_id=principal.string("user_id"),
            role=principal.enum("role", Role),
            organisation_id=principal.string("organisation_id"),
            organisation_kind=principal.enum("organisation_kind", OrganisationKind),
        ),
        action=reader.enum("action", Action),
        now=reader.datetime("now"),
        question_id=reader.optional_string("question_id"),
        purpose=reader.optional_string("purpose"),
        direction=reader.optional_enum("direction", Direction),
        consent=None if consent_data is None else _consent_from(consent_data),
        questions_today=reader.integer("questions_today", default=0),
        free_text_allowed=reader.boolean("free_text_allowed", default=False),
        routed_jobcenter_id=reader.optional_string("routed_jobcenter_id"),
        subject_registrar_id=reader.optional_string("subject_registrar_id"),
    )
    principal.reject_unknown()
    reader.reject_unknown()
    return request


def request_to_mapping(request: PolicyRequest) -> dict[str, JSONValue]:
    """The inverse of ``request_from_mapping``, for logs of test runs and explain."""
    consent = request.consent
    return {
        "principal": {
            "user_id": request.principal.user_id,
            "role": request.principal.role.value,
            "organisation_id": request.principal.organisation_id,
            "organisation_kind": request.principal.organisation_kind.value,
        },
        "action": request.action.value,
        "now": request.now.isoformat(),
        "question_id": request.question_id,
        "purpose": request.purpose,
        "direction": None if request.direction is None else request.direction.value,
        "consent": None
        if consent is None
        else {
            "id": consent.id,
            "status": consent.status.value,
            "grantee_organisation_id": consent.grantee_organisation_id,
            "jobcenter_organisation_id": consent.jobcenter_organisation_id,
            "purposes": sorted(consent.purposes),
            "categories": sorted(consent.categories),
            "directions": sorted(d.value for d in consent.directions),
            "valid_from": consent.valid_from.isoformat(),
            "valid_until": consent.valid_until.isoformat(),
            "explicit_special_categories": sorted(consent.explicit_special_categories),
        },
        "questions_today": request.questions_today,
        "free_text_allowed": request.free_text_allowed,
        "routed_jobcenter_id": request.routed_jobcenter_id,
        "subject_registrar_id": request.subject_registrar_id,
    }


def _consent_from(reader: _Reader) -> ConsentFacts:
    consent = ConsentFacts(
        id=reader.string("id"),
        status=reader.enum("status", ConsentStatus),
        grantee_organisation_id=reader.string("grantee_organisation_id"),
        jobcenter_organisation_id=reader.string("jobcenter_organisation_id"),
        purposes=frozenset(reader.strings("purposes")),
        categories=frozenset(reader.strings("categories")),
        directions=frozenset(Direction(d) for d in reader.enums("directions", Direction)),
        valid_from=reader.datetime("valid_from"),
        valid_until=reader.datetime("valid_until"),
        explicit_special_categories=frozenset(
            reader.strings("explicit_special_categories", default=())
        ),
    )
    reader.reject_unknown()
    return consent


class _Reader:
    """Typed access to one mapping of request data, naming the key path in errors."""

    def __init__(self, data: object, path: tuple[str | int, ...]) -> None:
        if not isinstance(data, Mapping):
            raise RequestFormatError(path=path, reason="expected a mapping")
        self._data: Mapping[str, JSONValue] = data
        self._path = path
        self._seen: set[str] = set()

    def _get(self, key: str) -> JSONValue:
        self._seen.add(key)
        return self._data.get(key)

    def _error(self, key: str, reason: str) -> RequestFormatError:
        return RequestFormatError(path=(*self._path, key), reason=reason)

    def reject_unknown(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise RequestFormatError(path=self._path, reason=f"unknown key {unknown[0]!r}")

    def mapping(self, key: str) -> _Reader:
        value = self._get(key)
        if value is None:
            raise self._error(key, "is required")
        return _Reader(value, (*self._path, key))

    def optional_mapping(self, key: str) -> _Reader | None:
        value = self._get(key)
        return None if value is None else _Reader(value, (*self._path, key))

    def string(self, key: str) -> str:
        value = self.optional_string(key)
        if value is None:
            raise self._error(key, "is required")
        return value

    def optional_string(self, key: str) -> str | None:
        value = self._get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self._error(key, "expected a non-empty string")
        return value

    def enum(self, key: str, kind: type[_E]) -> _E:
        value = self.optional_enum(key, kind)
        if value is None:
            raise self._error(key, "is required")
        return value

    def optional_enum(self, key: str, kind: type[_E]) -> _E | None:
        value = self.optional_string(key)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise self._error(key, f"{value!r} is not one of {allowed}") from None

    def strings(self, key: str, default: Sequence[str] | None = None) -> list[str]:
        value = self._get(key)
        if value is None and default is not None:
            return list(default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._error(key, "expected a list of strings")
        return list(value)

    def enums(self, key: str, kind: type[_E]) -> list[_E]:
        result: list[_E] = []
        for value in self.strings(key):
            try:
                result.append(kind(value))
            except ValueError:
                raise self._error(key, f"{value!r} is not a valid {kind.__name__}") from None
        return result

    def integer(self, key: str, *, default: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._error(key, "expected a non-negative integer")
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._error(key, "expected true or false")
        return value

    def datetime(self, key: str) -> datetime:
        value = self._get(key)
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise self._error(key, "expected an ISO 8601 date-time") from None
        if not isinstance(value, datetime):
            raise self._error(key, "expected an ISO 8601 date-time")
        if value.tzinfo is None or value.utcoffset() is None:
            raise self._error(key, "needs a time zone offset")
        return value
