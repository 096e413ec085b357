"""The policy decision point: ``PolicyEngine.decide`` answers one
``PolicyRequest`` with a ``Decision`` by evaluating the Cedar rules of
``policies/rules.cedar`` (https://docs.cedarpolicy.com/) through ``cedarpy``.

The engine reads the policies directory once (``PolicyEngine.load``); a
decision does no I/O and never reads the clock. It translates the request to
Cedar entities (the user and their organisation, the query or consent) and a
context (consent facts, time, counts, settings), evaluates, and names the
rules that decided by their ``@id``. A denial carries the stable ``@reason``
codes of the failing forbid rules, or ``not_permitted`` when no rule permits.

Beside deciding, the engine validates answers and parameters against the
question's JSON Schema (Draft 2020-12) and reduces an answer to the
categories a consent covers (the decision's ``drop_fields`` obligation).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import cedarpy
import jsonschema

from gateway.policy.loader import LoadedPolicies, Rule, load_policies
from gateway.policy.models import (
    Catalogue,
    CodeHolder,
    ConsentFacts,
    Decision,
    EngineReason,
    JSONValue,
    Limits,
    OrganisationKind,
    PolicyRequest,
    QuestionType,
    Reason,
    Resource,
    Routing,
)


class PolicyRequestError(ValueError):
    """The request cannot be decided as given (a caller's mistake, not a denial)."""


class UnknownQuestionError(LookupError):
    """No question type with this id is in the catalogue."""


def _entity(kind: str, entity_id: str) -> dict[str, str]:
    return {"type": kind, "id": entity_id}


def _reference(kind: str, entity_id: str) -> dict[str, dict[str, str]]:
    return {"__entity": {"type": kind, "id": entity_id}}


def _references(kind: str, ids: Iterable[str]) -> list[dict[str, dict[str, str]]]:
    return [_reference(kind, entity_id) for entity_id in sorted(ids)]


class _EntitySet:
    """The entities of one request, each once (Cedar refuses a repeated uid)."""

    def __init__(self) -> None:
        self._entities: dict[tuple[str, str], dict[str, Any]] = {}

    def add(
        self,
        entity_type: str,
        entity_id: str,
        /,
        *,
        parents: Sequence[dict[str, str]] = (),
        **attrs: Any,
    ) -> dict[str, str]:
        uid = _entity(entity_type, entity_id)
        known = self._entities.get((entity_type, entity_id))
        if known is None:
            self._entities[(entity_type, entity_id)] = {
                "uid": uid,
                "attrs": attrs,
                "parents": list(parents),
            }
        else:
            known["attrs"].update(attrs)
        return uid

    def organisation(
        self, organisation_id: str, *, kind: OrganisationKind, parent: str | None = None
    ) -> None:
        attrs: dict[str, Any] = {"kind": kind.value}
        if parent is not None:
            attrs["parent"] = _reference("Organisation", parent)
        self.add("Organisation", organisation_id, **attrs)

    def json(self) -> str:
        return json.dumps(list(self._entities.values()))


def _epoch_seconds(moment: datetime, *, name: str) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        # A naive time would silently be read in the server's zone.
        raise PolicyRequestError(f"{name} must be timezone-aware")
    return int(moment.timestamp())


class PolicyEngine:
    """Decides requests by the rules of one loaded policies directory.

    Immutable after construction, so one engine is shared by all requests;
    a changed directory is a new engine with a new ``version``.
    """

    def __init__(self, *, policies: LoadedPolicies) -> None:
        self.directory: Path = policies.directory
        self.version: str = policies.version
        self.catalogue: Catalogue = policies.catalogue
        self.routing: Routing = policies.routing
        self.limits: Limits = policies.limits
        self.reasons: Mapping[str, Reason] = policies.reasons
        self.rules: Mapping[str, Rule] = policies.rules
        self._policies = policies.cedar_policies
        # Always evaluate with the schema: it holds the action groups
        # (ask and answer are in "exchange"); without it Cedar would not match
        # `action in Action::"exchange"` and every such forbid rule would be
        # silently skipped. It also checks each request's shape.
        self._schema = policies.cedar_schema
        self._entities = functools.lru_cache(maxsize=4096)(self._parse_entities)
        self._rule_order = {rule_id: index for index, rule_id in enumerate(policies.rules)}
        self._special = self.catalogue.special_categories()
        format_checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
        self._answer_validators = {
            question.id: jsonschema.Draft202012Validator(
                question.answer_schema, format_checker=format_checker
            )
            for question in self.catalogue.questions.values()
        }
        self._parameter_validators = {
            question.id: jsonschema.Draft202012Validator(
                question.parameters_schema, format_checker=format_checker
            )
            for question in self.catalogue.questions.values()
            if question.parameters_schema is not None
        }

    @classmethod
    def load(cls, directory: Path) -> PolicyEngine:
        """Read and validate ``directory``; raises ``PolicyLoadError``."""
        return cls(policies=load_policies(directory=directory))

    # ------------------------------------------------------------------
    # Deciding
    # ------------------------------------------------------------------

    def decide(self, request: PolicyRequest) -> Decision:
        """Permit or deny ``request``, naming the deciding rules and, when
        permitted, the answer fields to drop."""
        question: QuestionType | None = None
        if request.action.is_exchange:
            question = self.catalogue.questions.get(request.question_id or "")
            if question is None:
                return Decision(
                    allowed=False,
                    policy_ids=(),
                    reasons=(EngineReason.UNKNOWN_QUESTION.value,),
                    policy_version=self.version,
                )
        cedar_request, entities = self._to_cedar(request, question)
        result = cedarpy.is_authorized(cedar_request, self._policies, entities, self._schema)
        diagnostics = result.diagnostics
        names = diagnostics.id_annotations_by_reason
        policy_ids = tuple(
            sorted(
                {names.get(cedar_id, cedar_id) for cedar_id in diagnostics.reasons},
                key=lambda rule_id: self._rule_order.get(rule_id, len(self._rule_order)),
            )
        )
        errors = tuple(str(error) for error in diagnostics.errors)
        uncovered = self._uncovered_categories(question, request.consent)
        if errors:
            # Cedar skips a rule that fails to evaluate; a skipped forbid must
            # not turn into a permit, so any error denies.
            return Decision(
                allowed=False,
                policy_ids=policy_ids if not result.allowed else (),
                reasons=(EngineReason.POLICY_EVALUATION_ERROR.value,),
                policy_version=self.version,
                uncovered_categories=uncovered,
                errors=errors,
            )
        if not result.allowed:
            reasons: dict[str, None] = {}
            for rule_id in policy_ids:
                rule = self.rules.get(rule_id)
                if rule is not None and rule.reason:
                    reasons[rule.reason] = None
            return Decision(
                allowed=False,
                policy_ids=policy_ids,
                reasons=tuple(reasons) or (EngineReason.NOT_PERMITTED.value,),
                policy_version=self.version,
                uncovered_categories=uncovered,
            )
        drop: tuple[str, ...] = ()
        if question is not None and request.consent is not None:
            drop = self.drop_fields(question=question, consent=request.consent)
        return Decision(
            allowed=True,
            policy_ids=policy_ids,
            reasons=(),
            policy_version=self.version,
            drop_fields=drop,
            # Empty unless the rules permit outside the consent: the policy
            # tests compare it, so such a rule shows up there.
            uncovered_categories=uncovered,
        )

    def _to_cedar(
        self, request: PolicyRequest, question: QuestionType | None
    ) -> tuple[dict[str, Any], cedarpy.Entities]:
        entities = _EntitySet()
        principal = request.principal
        if isinstance(principal, CodeHolder):
            principal_uid = entities.add(
                "CodeHolder",
                principal.consent_id,
                consent=_reference("Consent", principal.consent_id),
                chain=principal.chain,
            )
        else:
            entities.organisation(principal.organisation_id, kind=principal.organisation_kind)
            principal_uid = entities.add(
                "User",
                principal.user_id,
                parents=[_entity("Organisation", principal.organisation_id)],
                role=principal.role.value,
                organisation=_reference("Organisation", principal.organisation_id),
            )
        consent = request.consent
        if consent is not None:
            entities.add("Consent", consent.id, **self._consent_attributes(consent))
        context: dict[str, Any] = {"now": _epoch_seconds(request.now, name="now")}
        kind = request.action.resource
        if kind is Resource.QUESTION:
            assert question is not None
            resource = self._question(request, question, entities, context)
        elif kind is Resource.CONSENT:
            if consent is None:
                raise PolicyRequestError(f"{request.action.value} needs the consent's facts")
            resource = _entity("Consent", consent.id)
        elif kind is Resource.PERSON:
            resource = self._person(request, entities)
        elif kind is Resource.QUERY:
            resource = self._query(request, entities)
        else:
            resource = self._records(request, entities)
        cedar_request = {
            "principal": principal_uid,
            "action": _entity("Action", request.action.value),
            "resource": resource,
            "context": context,
        }
        # Parsing the entities is the larger part of a decision's cost, and
        # they repeat: one user asking about one person under one consent.
        # So they are parsed once and cached, keyed by their JSON content.
        return cedar_request, self._entities(entities.json())

    def _question(
        self,
        request: PolicyRequest,
        question: QuestionType,
        entities: _EntitySet,
        context: dict[str, Any],
    ) -> dict[str, str]:
        consent = request.consent
        query_attrs: dict[str, Any] = {
            "question": question.id,
            "purpose": question.purpose,
            "direction": question.direction.value,
            "categories": list(question.categories),
            "special_categories": list(question.special_categories),
            "free_text": question.free_text,
            "legal_basis": question.legal_basis.kind,
        }
        jobcenter = request.routed_jobcenter_id or (
            consent.jobcenter_organisation_id if consent is not None else None
        )
        if jobcenter is not None:
            query_attrs["jobcenter"] = _reference("Organisation", jobcenter)
        context.update(
            purpose=request.purpose or question.purpose,
            direction=(request.direction or question.direction).value,
            questions_today=request.questions_today,
            daily_question_limit=self.limits.questions_per_user_per_subject_per_day,
            free_text_allowed=request.free_text_allowed,
        )
        if consent is not None:
            context["consent"] = _reference("Consent", consent.id)
        if request.subject_registrar_id is not None:
            context["subject_registrar"] = _reference("Organisation", request.subject_registrar_id)
        return entities.add("Query", question.id, **query_attrs)

    @staticmethod
    def _person(request: PolicyRequest, entities: _EntitySet) -> dict[str, str]:
        person = request.person
        if person is None:
            raise PolicyRequestError(f"{request.action.value} needs the person's facts")
        attrs: dict[str, Any] = {
            "registrars": _references("Organisation", person.registrars),
            "consent_parties": _references("Organisation", person.consent_parties),
            "answering": _references("Organisation", person.answering),
        }
        if person.registrar is not None:
            attrs["registrar"] = _reference("Organisation", person.registrar)
        if person.municipality_id is not None:
            attrs["municipality"] = _reference("Organisation", person.municipality_id)
        if person.responsible_jobcenter_id is not None:
            attrs["responsible_jobcenter"] = _reference(
                "Organisation", person.responsible_jobcenter_id
            )
        return entities.add("Person", person.id, **attrs)

    @staticmethod
    def _query(request: PolicyRequest, entities: _EntitySet) -> dict[str, str]:
        query = request.query
        if query is None:
            raise PolicyRequestError(f"{request.action.value} needs the query's facts")
        attrs: dict[str, Any] = {
            "asker": _reference("Organisation", query.asker_organisation_id),
            "named_users": _references("User", query.named_users),
            "open": query.open,
        }
        if query.answerer_organisation_id is not None:
            attrs["answerer"] = _reference("Organisation", query.answerer_organisation_id)
        if query.asker_user_id is not None:
            attrs["asker_user"] = _reference("User", query.asker_user_id)
        return entities.add("QueryRecord", query.id, **attrs)

    @staticmethod
    def _records(request: PolicyRequest, entities: _EntitySet) -> dict[str, str]:
        records = request.records
        if records is None:
            raise PolicyRequestError(f"{request.action.value} needs the records' facts")
        if records.owner_id is None:
            return entities.add("Records", "*")
        if records.owner_kind is None:
            raise PolicyRequestError("records.owner_kind is required with owner_id")
        entities.organisation(
            records.owner_id, kind=records.owner_kind, parent=records.owner_parent_id
        )
        return entities.add(
            "Records", records.owner_id, owner=_reference("Organisation", records.owner_id)
        )

    def _parse_entities(self, text: str) -> cedarpy.Entities:
        # Parsed with the schema, which adds the action entities and their
        # groups: a handle parsed without it would make `action in
        # Action::"exchange"` false and silently skip those forbid rules.
        return cedarpy.Entities.from_json_str(text, self._schema)

    @staticmethod
    def _consent_attributes(consent: ConsentFacts) -> dict[str, Any]:
        return {
            "status": consent.status.value,
            "grantee": _reference("Organisation", consent.grantee_organisation_id),
            "jobcenter": _reference("Organisation", consent.jobcenter_organisation_id),
            "purposes": sorted(consent.purposes),
            "categories": sorted(consent.categories),
            "directions": sorted(direction.value for direction in consent.directions),
            "explicit_special_categories": sorted(consent.explicit_special_categories),
            "valid_from": _epoch_seconds(consent.valid_from, name="consent.valid_from"),
            "valid_until": _epoch_seconds(consent.valid_until, name="consent.valid_until"),
            "chain": consent.chain or consent.id,
        }

    def _covers(self, consent: ConsentFacts, category: str) -> bool:
        if category not in consent.categories:
            return False
        return category not in self._special or category in consent.explicit_special_categories

    def _uncovered_categories(
        self, question: QuestionType | None, consent: ConsentFacts | None
    ) -> tuple[str, ...]:
        if question is None or consent is None:
            return ()
        return tuple(c for c in question.categories if not self._covers(consent, c))

    # ------------------------------------------------------------------
    # Answers
    # ------------------------------------------------------------------

    def question(self, *, question_id: str) -> QuestionType:
        try:
            return self.catalogue.questions[question_id]
        except KeyError:
            raise UnknownQuestionError(question_id) from None

    def drop_fields(self, *, question: QuestionType, consent: ConsentFacts) -> tuple[str, ...]:
        """Paths of the answer fields whose category ``consent`` does not
        cover (special categories only count when named explicitly)."""
        dropped: list[str] = []
        for answer_field in question.answer_fields:
            if any(answer_field.path.startswith(f"{path}/") for path in dropped):
                continue
            if not self._covers(consent, answer_field.category):
                dropped.append(answer_field.path)
        return tuple(dropped)

    def reduce_answer(
        self, *, question_id: str, answer: Mapping[str, JSONValue], consent: ConsentFacts
    ) -> dict[str, JSONValue]:
        """A copy of ``answer`` holding only the fields ``consent`` covers."""
        question = self.question(question_id=question_id)
        return remove_fields(
            answer=answer, paths=self.drop_fields(question=question, consent=consent)
        )

    def validate_answer(
        self, *, question_id: str, answer: Mapping[str, JSONValue]
    ) -> tuple[str, ...]:
        """Problems of ``answer`` against the question's answer schema, as
        ``"/path: message"``; empty when valid."""
        self.question(question_id=question_id)
        return _problems(self._answer_validators[question_id], answer)

    def validate_parameters(
        self, *, question_id: str, parameters: Mapping[str, JSONValue] | None
    ) -> tuple[str, ...]:
        """Problems of the asker's ``parameters``; a question without a
        parameters schema takes none."""
        self.question(question_id=question_id)
        validator = self._parameter_validators.get(question_id)
        if validator is None:
            return () if not parameters else ("/: this question takes no parameters",)
        return _problems(validator, parameters if parameters is not None else {})


def _problems(validator: jsonschema.Draft202012Validator, value: object) -> tuple[str, ...]:
    errors = sorted(validator.iter_errors(value), key=lambda error: list(error.absolute_path))
    return tuple(
        f"/{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in errors
    )


def remove_fields(*, answer: Mapping[str, JSONValue], paths: Iterable[str]) -> dict[str, JSONValue]:
    """A copy of ``answer`` without the fields at ``paths`` (``/a/*/b``:
    field ``b`` of every item of array ``a``)."""
    split = [tuple(path.split("/")[1:]) for path in paths if path]
    result = _without(answer, split)
    assert isinstance(result, dict)
    return result


def _without(value: JSONValue, paths: Sequence[tuple[str, ...]]) -> JSONValue:
    if isinstance(value, Mapping):
        kept: dict[str, JSONValue] = {}
        for key, item in value.items():
            if (key,) in paths:
                continue
            kept[key] = _without(item, [p[1:] for p in paths if len(p) > 1 and p[0] == key])
        return kept
    if isinstance(value, list):
        if ("*",) in paths:
            return []
        inner = [p[1:] for p in paths if len(p) > 1 and p[0] == "*"]
        return [_without(item, inner) for item in value]
    return value
