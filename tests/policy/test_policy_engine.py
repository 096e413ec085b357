"""Deciding requests, answer obligations and answer validation (gateway.policy.engine)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.policy import (
    Action,
    ConsentFacts,
    ConsentStatus,
    Direction,
    OrganisationKind,
    PolicyEngine,
    PolicyRequest,
    PolicyRequestError,
    Principal,
    Role,
    UnknownQuestionError,
    remove_fields,
)
from gateway.policy.requests import request_from_mapping, request_to_mapping

REPOSITORY_POLICIES = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.load(REPOSITORY_POLICIES)


def consent(**changes: Any) -> ConsentFacts:
    facts = ConsentFacts(
        id="consent-1",
        status=ConsentStatus.ACTIVE,
        grantee_organisation_id="org-brackenheim",
        jobcenter_organisation_id="org-jc-heilbronn",
        purposes=frozenset({"appointment_coordination", "measures_and_courses"}),
        categories=frozenset({"appointments", "measures", "course_obligation"}),
        directions=frozenset({Direction.MUNICIPALITY_ASKS_JOBCENTER}),
        valid_from=datetime(2025, 5, 1, tzinfo=UTC),
        valid_until=datetime(2026, 5, 1, tzinfo=UTC),
    )
    return replace(facts, **changes)


INTEGRATION_MANAGER = Principal(
    user_id="anna",
    role=Role.INTEGRATION_MANAGER,
    organisation_id="org-brackenheim",
    organisation_kind=OrganisationKind.MUNICIPALITY,
)
JOBCENTER_STAFF = Principal(
    user_id="jonas",
    role=Role.JOBCENTER_STAFF,
    organisation_id="org-jc-heilbronn",
    organisation_kind=OrganisationKind.JOBCENTER,
)


def ask(question_id: str | None = "upcoming_appointments", **changes: Any) -> PolicyRequest:
    request = PolicyRequest(
        principal=INTEGRATION_MANAGER,
        action=Action.ASK,
        now=NOW,
        question_id=question_id,
        consent=consent(),
    )
    return replace(request, **changes)


def test_a_covered_question_is_permitted_and_names_its_permit(engine: PolicyEngine) -> None:
    decision = engine.decide(ask())
    assert decision.allowed
    assert decision.policy_ids == ("ask.integration_manager",)
    assert decision.reasons == ()
    assert decision.policy_version == engine.version
    # The consent does not cover the assigned contact: its field is dropped.
    assert decision.drop_fields == ("/appointments/*/contact_name",)


def test_no_consent_is_denied_with_a_stable_reason(engine: PolicyEngine) -> None:
    decision = engine.decide(ask(consent=None))
    assert not decision.allowed
    assert decision.policy_ids == ("consent.required",)
    assert decision.reasons == ("no_consent",)
    assert decision.as_dict()["decision"] == "deny"


def test_a_denial_names_every_failing_rule_in_file_order(engine: PolicyEngine) -> None:
    decision = engine.decide(
        ask(
            "wage_subsidy_coordination",
            consent=consent(status=ConsentStatus.REVOKED),
            questions_today=25,
        )
    )
    assert decision.policy_ids == (
        "consent.active",
        "consent.covers_purpose",
        "consent.covers_categories",
        "rate.daily_questions_per_subject",
    )
    assert decision.reasons == (
        "consent_not_active",
        "consent_purpose_not_covered",
        "consent_category_not_covered",
        "rate_exceeded",
    )
    assert decision.uncovered_categories == ("job_offer", "wage_subsidy")
    assert decision.drop_fields == ()


def test_every_reason_a_rule_gives_has_a_title(engine: PolicyEngine) -> None:
    for rule in engine.rules.values():
        if rule.effect == "forbid":
            assert rule.reason in engine.reasons
    assert {"not_permitted", "unknown_question", "no_consent", "rate_exceeded"} <= set(
        engine.reasons
    )
    assert engine.reasons["no_consent"].titles["en"] == "No consent"


def test_an_unknown_question_is_denied_without_evaluating(engine: PolicyEngine) -> None:
    decision = engine.decide(ask("criminal_record"))
    assert (decision.allowed, decision.policy_ids, decision.reasons) == (
        False,
        (),
        ("unknown_question",),
    )
    assert not engine.decide(ask(question_id=None)).allowed


def test_the_engine_uses_the_time_it_is_given(engine: PolicyEngine) -> None:
    assert engine.decide(ask(now=datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC))).allowed
    expired = engine.decide(ask(now=datetime(2026, 5, 1, tzinfo=UTC)))
    assert expired.reasons == ("consent_expired",)


def test_naive_times_are_refused(engine: PolicyEngine) -> None:
    with pytest.raises(PolicyRequestError, match="timezone-aware"):
        engine.decide(ask(now=datetime(2025, 6, 2, 9, 0)))
    with pytest.raises(PolicyRequestError, match="valid_until"):
        engine.decide(ask(consent=consent(valid_until=datetime(2026, 5, 1))))


def test_consent_actions_need_the_consent(engine: PolicyEngine) -> None:
    with pytest.raises(PolicyRequestError, match="read_consent needs"):
        engine.decide(ask(action=Action.READ_CONSENT, question_id=None, consent=None))


def test_the_same_consent_id_with_other_facts_is_decided_anew(engine: PolicyEngine) -> None:
    # Parsed entities are cached by their content, never by id alone.
    assert engine.decide(ask()).allowed
    revoked = engine.decide(ask(consent=consent(status=ConsentStatus.REVOKED)))
    assert revoked.reasons == ("consent_not_active",)
    assert engine.decide(ask()).allowed


def test_special_categories_in_answers_need_explicit_consent(engine: PolicyEngine) -> None:
    with_health = consent(categories=frozenset({"measures", "course_obligation", "health"}))
    request = ask("measures_and_course_obligation", consent=with_health)
    assert engine.decide(request).drop_fields == ("/health_restrictions",)
    explicit = replace(with_health, explicit_special_categories=frozenset({"health"}))
    assert engine.decide(replace(request, consent=explicit)).drop_fields == ()


def test_a_failing_rule_denies_instead_of_being_skipped(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPOSITORY_POLICIES, policies)
    with (policies / "rules.cedar").open("a", encoding="utf-8") as rules:
        # Overflows for any count above one: Cedar reports an error and
        # skips the rule, which must not turn into a permit.
        rules.write(
            '\n@id("test.overflow")\n@reason("rate_exceeded")\n'
            'forbid (principal, action == Action::"ask", resource)\n'
            "when { context.questions_today * 9223372036854775807 > 1 };\n"
        )
    engine = PolicyEngine.load(policies)
    assert engine.decide(ask(questions_today=0)).allowed
    decision = engine.decide(ask(questions_today=2))
    assert not decision.allowed
    assert decision.reasons == ("policy_evaluation_error",)
    assert decision.errors


def test_reduce_answer_keeps_only_consented_fields(engine: PolicyEngine) -> None:
    answer = {
        "appointments": [
            {"starts_at": "2025-06-10T09:00:00+02:00", "kind": "counselling", "contact_name": "M"},
            {"starts_at": "2025-06-20T09:00:00+02:00", "kind": "placement"},
        ]
    }
    reduced = engine.reduce_answer(
        question_id="upcoming_appointments", answer=answer, consent=consent()
    )
    assert reduced == {
        "appointments": [
            {"starts_at": "2025-06-10T09:00:00+02:00", "kind": "counselling"},
            {"starts_at": "2025-06-20T09:00:00+02:00", "kind": "placement"},
        ]
    }
    assert answer["appointments"][0]["contact_name"] == "M", "the input is not changed"
    full = consent(categories=frozenset({"appointments", "assigned_contact"}))
    assert (
        engine.reduce_answer(question_id="upcoming_appointments", answer=answer, consent=full)
        == answer
    )


def test_remove_fields_handles_nesting_and_whole_arrays() -> None:
    answer = {"a": [{"b": 1, "c": 2}], "d": {"e": 3, "f": 4}, "g": [1, 2]}
    assert remove_fields(answer=answer, paths=["/a/*/b", "/d/e", "/g/*"]) == {
        "a": [{"c": 2}],
        "d": {"f": 4},
        "g": [],
    }
    assert remove_fields(answer=answer, paths=[]) == answer


def test_answers_are_validated_against_the_question_schema(engine: PolicyEngine) -> None:
    good = {"appointments": [{"starts_at": "2025-06-10T09:00:00+02:00", "kind": "counselling"}]}
    assert engine.validate_answer(question_id="upcoming_appointments", answer=good) == ()
    problems = engine.validate_answer(
        question_id="upcoming_appointments",
        answer={"appointments": [{"kind": "party"}], "gossip": "x"},
    )
    assert any(problem.startswith("/appointments/0: 'starts_at'") for problem in problems)
    assert any(problem.startswith("/appointments/0/kind:") for problem in problems)
    assert any("'gossip' was unexpected" in problem for problem in problems)
    bad_date = {"receives_benefit": True, "approved_until": "next spring"}
    assert engine.validate_answer(question_id="benefit_status", answer=bad_date) == (
        "/approved_until: 'next spring' is not a 'date'",
    )
    with pytest.raises(UnknownQuestionError):
        engine.validate_answer(question_id="nope", answer={})


def test_parameters_are_validated(engine: PolicyEngine) -> None:
    offer = {
        "employer_name": "Weingut Beispiel",
        "position_title": "Helfer Weinbau",
        "starts_on": "2025-07-01",
        "weekly_hours": 30,
    }
    assert (
        engine.validate_parameters(question_id="wage_subsidy_coordination", parameters=offer) == ()
    )
    assert engine.validate_parameters(
        question_id="wage_subsidy_coordination", parameters={**offer, "weekly_hours": 0}
    ) == ("/weekly_hours: 0 is less than or equal to the minimum of 0",)
    assert engine.validate_parameters(question_id="benefit_status", parameters=None) == ()
    assert engine.validate_parameters(question_id="benefit_status", parameters={"x": 1}) == (
        "/: this question takes no parameters",
    )


def test_requests_round_trip_through_data() -> None:
    request = ask(questions_today=4, free_text_allowed=True, routed_jobcenter_id="org-jc")
    assert request_from_mapping(request_to_mapping(request)) == request
