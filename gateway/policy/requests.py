"""Authorisation requests as data: ``gateway policies explain`` reads one
from JSON, the policy test cases from YAML. Keys are the dataclass field names
of ``gateway.policy.models``; datetimes are ISO 8601 strings (or datetimes, as
YAML reads them).

A ``principal`` with ``user_id`` is a user; one with ``consent_id`` (and
``chain``) is the holder of that consent's self-service code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from gateway.policy.models import (
    Action,
    CodeHolder,
    ConsentFacts,
    ConsentStatus,
    Direction,
    JSONValue,
    OrganisationKind,
    PersonFacts,
    PolicyRequest,
    Principal,
    QueryFacts,
    RecordsFacts,
    Role,
)

_E = TypeVar("_E", bound=StrEnum)


class RequestFormatError(ValueError):
    """A request given as data is malformed; ``path`` names the offending key."""

    def __init__(self, *, path: Sequence[str | int], reason: str) -> None:
        self.path = tuple(path)
        self.reason = reason
        where = "/".join(str(part) for part in self.path) or "request"
        super().__init__(f"{where}: {reason}")


def request_from_mapping(data: Mapping[str, JSONValue]) -> PolicyRequest:
    """Build a ``PolicyRequest`` from JSON-like data."""
    reader = _Reader(data, ())
    consent_data = reader.optional_mapping("consent")
    person_data = reader.optional_mapping("person")
    query_data = reader.optional_mapping("query")
    records_data = reader.optional_mapping("records")
    request = PolicyRequest(
        principal=_principal_from(reader.mapping("principal")),
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
        person=None if person_data is None else _person_from(person_data),
        query=None if query_data is None else _query_from(query_data),
        records=None if records_data is None else _records_from(records_data),
    )
    reader.reject_unknown()
    return request


def _principal_from(reader: _Reader) -> Principal | CodeHolder:
    if reader.has("consent_id"):
        holder = CodeHolder(consent_id=reader.string("consent_id"), chain=reader.string("chain"))
        reader.reject_unknown()
        return holder
    principal = Principal(
        user_id=reader.string("user_id"),
        role=reader.enum("role", Role),
        organisation_id=reader.string("organisation_id"),
        organisation_kind=reader.enum("organisation_kind", OrganisationKind),
    )
    reader.reject_unknown()
    return principal


def _person_from(reader: _Reader) -> PersonFacts:
    person = PersonFacts(
        id=reader.string("id"),
        registrar=reader.optional_string("registrar"),
        registrars=frozenset(reader.strings("registrars", default=())),
        consent_parties=frozenset(reader.strings("consent_parties", default=())),
        answering=frozenset(reader.strings("answering", default=())),
        municipality_id=reader.optional_string("municipality_id"),
        responsible_jobcenter_id=reader.optional_string("responsible_jobcenter_id"),
    )
    reader.reject_unknown()
    return person


def _query_from(reader: _Reader) -> QueryFacts:
    query = QueryFacts(
        id=reader.string("id"),
        asker_organisation_id=reader.string("asker_organisation_id"),
        asker_user_id=reader.optional_string("asker_user_id"),
        answerer_organisation_id=reader.optional_string("answerer_organisation_id"),
        named_users=frozenset(reader.strings("named_users", default=())),
        open=reader.boolean("open", default=True),
    )
    reader.reject_unknown()
    return query


def _records_from(reader: _Reader) -> RecordsFacts:
    records = RecordsFacts(
        owner_id=reader.optional_string("owner_id"),
        owner_kind=reader.optional_enum("owner_kind", OrganisationKind),
        owner_parent_id=reader.optional_string("owner_parent_id"),
    )
    reader.reject_unknown()
    return records


def request_to_mapping(request: PolicyRequest) -> dict[str, JSONValue]:
    """The inverse of ``request_from_mapping``, for logs of test runs and explain."""
    consent, person, query, records = (
        request.consent,
        request.person,
        request.query,
        request.records,
    )
    principal = request.principal
    return {
        "principal": (
            {"consent_id": principal.consent_id, "chain": principal.chain}
            if isinstance(principal, CodeHolder)
            else {
                "user_id": principal.user_id,
                "role": principal.role.value,
                "organisation_id": principal.organisation_id,
                "organisation_kind": principal.organisation_kind.value,
            }
        ),
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
            "chain": consent.chain,
        },
        "questions_today": request.questions_today,
        "free_text_allowed": request.free_text_allowed,
        "routed_jobcenter_id": request.routed_jobcenter_id,
        "subject_registrar_id": request.subject_registrar_id,
        "person": None
        if person is None
        else {
            "id": person.id,
            "registrar": person.registrar,
            "registrars": sorted(person.registrars),
            "consent_parties": sorted(person.consent_parties),
            "answering": sorted(person.answering),
            "municipality_id": person.municipality_id,
            "responsible_jobcenter_id": person.responsible_jobcenter_id,
        },
        "query": None
        if query is None
        else {
            "id": query.id,
            "asker_organisation_id": query.asker_organisation_id,
            "asker_user_id": query.asker_user_id,
            "answerer_organisation_id": query.answerer_organisation_id,
            "named_users": sorted(query.named_users),
            "open": query.open,
        },
        "records": None
        if records is None
        else {
            "owner_id": records.owner_id,
            "owner_kind": None if records.owner_kind is None else records.owner_kind.value,
            "owner_parent_id": records.owner_parent_id,
        },
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
        chain=reader.optional_string("chain"),
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

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

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
