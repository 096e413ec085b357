"""The policy test cases of policies/tests/ (the same cases as `gateway
policies test`), one pytest test each, and proof that the runner catches a
wrong rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.policy import PolicyEngine
from gateway.policy.loader import PolicyLoadError
from gateway.policy.testing import PolicyTestCase, load_cases, run_policy_tests

REPOSITORY_POLICIES = Path(__file__).resolve().parents[2] / "policies"
ENGINE = PolicyEngine.load(REPOSITORY_POLICIES)
CASES = load_cases(tests_dir=REPOSITORY_POLICIES / "tests", rules=ENGINE.rules)

# The correct rule, and a wrong one that lets a question through when the
# consent covers any one of the categories it needs instead of all of them.
CORRECT_CATEGORY_RULE = "!context.consent.categories.containsAll(resource.categories)"
WRONG_CATEGORY_RULE = "!context.consent.categories.containsAny(resource.categories)"


@pytest.mark.parametrize("case", CASES, ids=[f"{case.file}:{case.name}" for case in CASES])
def test_policy_case(case: PolicyTestCase) -> None:
    decision = ENGINE.decide(case.request)
    assert decision.allowed is case.expect.allowed
    assert set(decision.policy_ids) == case.expect.policies
    if case.expect.reasons is not None:
        assert set(decision.reasons) == case.expect.reasons
    if case.expect.drop_fields is not None:
        assert set(decision.drop_fields) == case.expect.drop_fields
    if case.expect.uncovered_categories is not None:
        assert set(decision.uncovered_categories) == case.expect.uncovered_categories
    assert decision.errors == ()


def test_the_runner_passes_every_case_and_every_rule_is_covered() -> None:
    report = run_policy_tests(engine=ENGINE)
    assert report.failures == (), [f"{f.location} {f.message}" for f in report.failures]
    assert report.coverage_gaps == ()
    assert report.ok
    assert report.summary() == f"{len(CASES)} passed, 0 failed"


def test_every_rule_has_an_allow_and_a_deny_case() -> None:
    for rule_id in ENGINE.rules:
        outcomes = {case.expect.allowed for case in CASES if case.rule == rule_id}
        assert outcomes == {True, False}, rule_id


@pytest.fixture
def wrong_policies(tmp_path: Path) -> Path:
    policies = tmp_path / "policies"
    shutil.copytree(REPOSITORY_POLICIES, policies)
    rules = policies / "rules.cedar"
    text = rules.read_text(encoding="utf-8")
    assert CORRECT_CATEGORY_RULE in text
    rules.write_text(text.replace(CORRECT_CATEGORY_RULE, WRONG_CATEGORY_RULE), encoding="utf-8")
    return policies


def test_a_rule_that_permits_outside_the_consent_is_caught(wrong_policies: Path) -> None:
    # The wrong rule still loads: it is valid Cedar and fits the schema.
    engine = PolicyEngine.load(wrong_policies)
    report = run_policy_tests(engine=engine)

    assert not report.ok
    assert report.failed == 1
    failure = report.failures[0]
    assert failure.case.name == "the consent covers the job offer but not the wage subsidy"
    assert failure.case.file == "tests/consent.yaml"
    assert failure.message == (
        "expected deny by [consent.covers_categories], got allow by [ask.integration_manager]; "
        "expected reasons ['consent_category_not_covered'], got []"
    )
    # The decision itself shows the permit outside the consent.
    assert failure.decision is not None
    assert failure.decision.uncovered_categories == ("wage_subsidy",)
    assert report.summary() == f"{len(CASES) - 1} passed, 1 failed"


def test_a_rule_without_test_cases_is_a_coverage_gap(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPOSITORY_POLICIES, policies)
    with (policies / "rules.cedar").open("a", encoding="utf-8") as rules:
        rules.write(
            '\n@id("audit.admin")\n'
            'permit (principal, action == Action::"read_audit", resource)\n'
            'when { principal.role == "admin" };\n'
        )
    report = run_policy_tests(engine=PolicyEngine.load(policies))
    assert not report.ok
    assert any("rule 'audit.admin' has no allow test case" in gap for gap in report.coverage_gaps)
    # The new permit lets any administrator read the trail: the cases that say a
    # municipality's administrator does not, fail too, and nothing else.
    failed = [f.case.name for f in report.failures]
    assert "a municipality's administrator does not read the whole audit trail" in failed
    assert all("administrator" in name for name in failed), failed


def test_a_malformed_case_names_file_and_line(tmp_path: Path) -> None:
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    (tests_dir / "broken.yaml").write_text(
        "cases:\n"
        "  - name: a case with a typo\n"
        "    rule: consent.required\n"
        "    request:\n"
        "      principal: {user_id: u, role: integration_manager, organisation_id: o,\n"
        "                  organisation_kind: municipality}\n"
        "      action: ask\n"
        "      now: 2025-06-02T09:00:00+02:00\n"
        "      question: benefit_status\n"
        "    expect: {decision: deny, policies: [consent.required]}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyLoadError) as caught:
        run_policy_tests(engine=ENGINE, tests_dir=tests_dir)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line) == ("tests/broken.yaml", 4)
    assert "unknown key 'question'" in problem.reason


def test_a_case_must_exercise_the_rule_it_names(tmp_path: Path) -> None:
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    (tests_dir / "mistagged.yaml").write_text(
        "cases:\n"
        "  - name: tagged with a rule that does not decide it\n"
        "    rule: consent.required\n"
        "    request:\n"
        "      principal: {user_id: u, role: dpo, organisation_id: o,\n"
        "                  organisation_kind: municipality}\n"
        "      action: ask\n"
        "      now: 2025-06-02T09:00:00+02:00\n"
        "      question_id: benefit_status\n"
        "    expect: {decision: deny, policies: [rate.daily_questions_per_subject]}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyLoadError, match=r"a deny case of 'consent\.required' must name it"):
        run_policy_tests(engine=ENGINE, tests_dir=tests_dir)
