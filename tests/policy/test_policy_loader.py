"""Loading and validating the policies directory (gateway.policy.loader)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gateway.policy.loader import PolicyLoadError, load_policies, policy_version, split_statements
from gateway.policy.models import AdapterKind, Direction

REPOSITORY_POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A private copy of the repository's policies to break."""
    target = tmp_path / "policies"
    shutil.copytree(REPOSITORY_POLICIES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path.name}")


def load_error(directory: Path) -> PolicyLoadError:
    with pytest.raises(PolicyLoadError) as caught:
        load_policies(directory=directory)
    return caught.value


def test_the_repository_policies_load() -> None:
    loaded = load_policies(directory=REPOSITORY_POLICIES)

    catalogue = loaded.catalogue
    assert set(catalogue.purposes) == {
        "benefit_coordination",
        "appointment_coordination",
        "measures_and_courses",
        "wage_subsidy",
        "bridging_benefit",
        "integration_planning",
        "case_communication",
    }
    assert catalogue.special_categories() == {"health"}
    languages = {"de", "en", "ar", "uk", "fa", "tr", "ru"}
    for purpose in catalogue.purposes.values():
        assert languages <= set(purpose.labels), purpose.id
    for category in catalogue.categories.values():
        assert languages <= set(category.labels), category.id
    wage_subsidy = catalogue.questions["wage_subsidy_coordination"]
    assert wage_subsidy.categories == ("job_offer", "wage_subsidy")
    assert wage_subsidy.parameters_schema is not None
    assert wage_subsidy.optional_categories == ("assigned_contact",)
    assert catalogue.questions["german_language_level"].direction is (
        Direction.JOBCENTER_ASKS_MUNICIPALITY
    )
    assert catalogue.questions["message_to_jobcenter"].free_text
    assert not catalogue.questions["benefit_status"].free_text
    assert catalogue.questions["measure_health_restrictions"].special_categories == ("health",)
    assert loaded.limits.questions_per_user_per_subject_per_day == 20
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", loaded.version)


def test_routing_is_keyed_by_official_keys() -> None:
    routing = load_policies(directory=REPOSITORY_POLICIES).routing

    brackenheim = routing.jobcenter_for_municipality(ags="08125013")
    assert brackenheim is not None
    assert (brackenheim.key, brackenheim.name) == ("JC-08125", "Jobcenter Landkreis Heilbronn")
    assert routing.municipalities["08125013"].name == "Stadt Brackenheim"
    assert routing.districts["08125"].name == "Landratsamt Heilbronn"
    # A municipality of the district that is not listed goes by its district.
    other = routing.jobcenter_for_municipality(ags="08125999")
    assert other is not None
    assert other.key == "JC-08125"
    assert routing.jobcenter_for_municipality(ags="09162000") is None
    assert routing.adapter_for(jobcenter_key="JC-08125") is AdapterKind.INBOX
    assert routing.adapter_for(jobcenter_key="JC-08121") is AdapterKind.SIMULATOR
    assert routing.adapter_for(jobcenter_key="JC-UNLISTED") is AdapterKind.INBOX


def test_the_version_hashes_every_file(policies: Path) -> None:
    before = policy_version(directory=policies)
    assert policy_version(directory=policies) == before

    edit(policies / "rules.cedar", "// Who may do what", "// Who may do what (edited)")
    after_rules = policy_version(directory=policies)
    assert after_rules != before
    assert load_policies(directory=policies).version == after_rules

    edit(policies / "limits.yaml", "per_day: 20", "per_day: 21")
    after_limits = policy_version(directory=policies)
    assert after_limits != after_rules

    (policies / "tests" / "extra.yaml").write_text("cases: []\n", encoding="utf-8")
    assert policy_version(directory=policies) != after_limits


def test_the_version_ignores_dot_files(policies: Path) -> None:
    before = policy_version(directory=policies)
    (policies / ".rules.cedar.swp").write_bytes(b"editor state")
    assert policy_version(directory=policies) == before


def test_a_yaml_syntax_error_names_file_and_line(policies: Path) -> None:
    edit(policies / "routing.yaml", "    name: Stadt Brackenheim", "    name: [Stadt Brackenheim")
    problem = load_error(policies).problems[0]
    assert problem.file == "routing.yaml"
    assert problem.line is not None
    assert problem.line >= line_of(policies / "routing.yaml", "[Stadt Brackenheim")


def test_a_duplicate_key_is_an_error(policies: Path) -> None:
    edit(
        policies / "limits.yaml",
        "per_day: 20",
        "per_day: 20\nquestions_per_user_per_subject_per_day: 5",
    )
    error = load_error(policies)
    assert str(error) == (
        f"limits.yaml:{line_of(policies / 'limits.yaml', ': 5')}: duplicate key "
        "'questions_per_user_per_subject_per_day'"
    )


def test_an_unknown_purpose_is_reported_at_its_line(policies: Path) -> None:
    questions = policies / "questions.yaml"
    edit(questions, "    purpose: bridging_benefit\n", "    purpose: bridging_benefits\n")
    problem = load_error(policies).problems[0]
    assert problem.file == "questions.yaml"
    assert problem.line == line_of(questions, "purpose: bridging_benefits")
    assert "unknown purpose 'bridging_benefits'" in problem.reason


def test_a_question_may_not_need_a_category_outside_its_purpose(policies: Path) -> None:
    questions = policies / "questions.yaml"
    edit(
        questions,
        "    categories: [bridging_benefit]\n",
        "    categories: [bridging_benefit, health]\n",
    )
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(questions, "categories: [bridging_benefit, health]")
    assert "'health' is not allowed for purpose 'bridging_benefit'" in problem.reason


def test_every_answer_field_needs_a_category(policies: Path) -> None:
    questions = policies / "questions.yaml"
    tagged = "        application_pending:\n          type: boolean\n"
    edit(questions, tagged + "          x-category: benefit_status\n", tagged)
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(questions, "application_pending:")
    assert "field /application_pending has no x-category" in problem.reason


def test_an_answer_field_category_must_belong_to_the_purpose(policies: Path) -> None:
    questions = policies / "questions.yaml"
    edit(
        questions,
        "        remarks:\n          type: string\n          maxLength: 500\n"
        "          x-category: benefit_status\n",
        "        remarks:\n          type: string\n          maxLength: 500\n"
        "          x-category: health\n",
    )
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(questions, "x-category: health")
    assert "'health' is not a category of this question's purpose" in problem.reason


def test_an_invalid_answer_schema_is_reported(policies: Path) -> None:
    questions = policies / "questions.yaml"
    edit(
        questions,
        "          maxItems: 20\n          x-category: appointments",
        "          maxItems: many\n          x-category: appointments",
    )
    problem = load_error(policies).problems[0]
    assert problem.file == "questions.yaml"
    assert problem.line == line_of(questions, "maxItems: many")
    assert "not a valid JSON Schema" in problem.reason


def test_labels_must_exist_in_every_consent_language(policies: Path) -> None:
    purposes = policies / "purposes.yaml"
    lines = purposes.read_text(encoding="utf-8").splitlines(keepends=True)
    # Drop the Persian label of the second purpose.
    second = lines.index("  - id: appointment_coordination\n")
    persian = next(i for i in range(second, len(lines)) if lines[i].startswith("      fa: "))
    purposes.write_text("".join(lines[:persian] + lines[persian + 1 :]), encoding="utf-8")
    problem = load_error(policies).problems[0]
    assert problem.file == "purposes.yaml"
    assert problem.line == second + 3  # the labels key, two lines below the id
    assert "labels missing for fa" in problem.reason


def test_an_unquoted_key_that_yaml_reads_as_a_number_is_reported(policies: Path) -> None:
    routing = policies / "routing.yaml"
    edit(routing, '  - key: "08125"', "  - key: 12345")
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(routing, "key: 12345")
    assert "expected a non-empty string" in problem.reason


def test_routing_names_only_listed_jobcenters(policies: Path) -> None:
    routing = policies / "routing.yaml"
    edit(
        routing,
        "    name: Stadt Brackenheim\n    jobcenter: JC-08125",
        "    name: Stadt Brackenheim\n    jobcenter: JC-99999",
    )
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(routing, "JC-99999")
    assert "unknown jobcenter 'JC-99999'" in problem.reason


def test_a_rest_jobcenter_needs_an_https_endpoint(policies: Path) -> None:
    edit(policies / "routing.yaml", "    adapter: simulator", "    adapter: rest")
    assert "needs an endpoint" in str(load_error(policies))


def test_a_cedar_syntax_error_names_the_line_of_the_broken_rule(policies: Path) -> None:
    rules = policies / "rules.cedar"
    edit(rules, "when { context.purpose != resource.purpose };", "when { context.purpose != };")
    problem = load_error(policies).problems[0]
    assert problem.file == "rules.cedar"
    assert problem.line == line_of(rules, '@id("query.purpose_of_question")')
    assert problem.reason.startswith("cannot parse rule")


def test_a_rule_that_does_not_fit_the_schema_is_reported(policies: Path) -> None:
    rules = policies / "rules.cedar"
    edit(
        rules,
        "!context.consent.purposes.contains(resource.purpose)",
        "!context.consent.purpose.contains(resource.purpose)",
    )
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(rules, '@id("consent.covers_purpose")')
    assert "does not fit schema.cedarschema" in problem.reason


def test_every_rule_needs_an_id(policies: Path) -> None:
    rules = policies / "rules.cedar"
    edit(rules, '@id("audit.operator")\n', "")
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(rules, 'action == Action::"read_audit"')
    assert "needs an @id" in problem.reason


def test_every_forbid_needs_a_known_reason(policies: Path) -> None:
    rules = policies / "rules.cedar"
    edit(rules, '@reason("rate_exceeded")', '@reason("too_many")')
    problem = load_error(policies).problems[0]
    assert problem.line == line_of(rules, '@id("rate.daily_questions_per_subject")')
    assert "'too_many' is not listed in reasons.yaml" in problem.reason

    edit(rules, '@reason("too_many")\n', "")
    assert "needs a @reason" in str(load_error(policies))


def test_a_duplicate_rule_id_is_an_error(policies: Path) -> None:
    edit(policies / "rules.cedar", '@id("audit.operator")', '@id("consent.required")')
    assert "@id 'consent.required' is used twice" in str(load_error(policies))


def test_a_broken_cedar_schema_is_reported(policies: Path) -> None:
    schema = policies / "schema.cedarschema"
    edit(
        schema,
        "  free_text: Bool,                 // a free-text",
        "  free_text: Boolean,              // a free-text",
    )
    problem = next(p for p in load_error(policies).problems if p.file == "schema.cedarschema")
    assert problem.line == line_of(schema, "free_text: Boolean")


def test_problems_of_several_files_are_reported_together(policies: Path) -> None:
    edit(policies / "limits.yaml", "per_day: 20", "per_day: 0")
    edit(policies / "questions.yaml", "    deadline_days: 3\n", "    deadline_days: soon\n")
    files = {problem.file for problem in load_error(policies).problems}
    assert files == {"limits.yaml", "questions.yaml"}


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert "not a directory" in str(load_error(tmp_path / "nowhere"))


def test_cedar_statements_are_split_with_their_lines() -> None:
    text = (
        "// a comment; with a semicolon\n"
        '@id("a")\n'
        "permit (principal, action, resource)\n"
        'when { "x;y" == "x;y" };\n'
        "\n"
        "forbid (principal, action, resource);\n"
    )
    statements = split_statements(text)
    assert [statement.line for statement in statements] == [2, 6]
    assert statements[0].text.endswith('"x;y" };')
