"""Runs the policy test cases of ``policies/tests/`` against a ``PolicyEngine``.

A test file is YAML a data protection officer can write::

    defaults:
      request: {...}          # a PolicyRequest as data, shared by the cases
    cases:
      - name: consent lacks the category the question needs
        rule: consent.covers_categories   # the rule this case exercises
        request: {...}        # merged into defaults.request; null removes a key
        expect:
          decision: deny                  # allow | deny
          policies: [consent.covers_categories]   # exactly the deciding rules
          reasons: [consent_category_not_covered] # optional
          drop_fields: []                         # optional
          uncovered_categories: [benefit_status]  # optional

Requests use the field names of ``PolicyRequest`` (see
``gateway.policy.requests.request_from_mapping``). Beside each case's outcome
the runner checks coverage: every rule of rules.cedar needs at least one
``allow`` and one ``deny`` case tagged with its ``rule``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.policy.engine import PolicyEngine, PolicyRequestError
from gateway.policy.loader import (
    TESTS_DIR,
    PolicyLoadError,
    PolicyProblem,
    Rule,
    YamlDocument,
    read_yaml,
)
from gateway.policy.models import Decision, JSONValue, PolicyRequest
from gateway.policy.requests import RequestFormatError, request_from_mapping

_CASE_KEYS = frozenset({"name", "rule", "request", "expect"})
_EXPECT_KEYS = frozenset({"decision", "policies", "reasons", "drop_fields", "uncovered_categories"})
_LIST_EXPECTATIONS = ("policies", "reasons", "drop_fields", "uncovered_categories")


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    allowed: bool
    policies: frozenset[str]
    # None: not checked by this case.
    reasons: frozenset[str] | None = None
    drop_fields: frozenset[str] | None = None
    uncovered_categories: frozenset[str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyTestCase:
    file: str
    line: int | None
    name: str
    rule: str | None
    request: PolicyRequest
    expect: Expectation


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    case: PolicyTestCase
    passed: bool
    decision: Decision | None
    message: str = ""

    @property
    def location(self) -> str:
        return f"{self.case.file}:{self.case.line or 1}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyTestReport:
    """The outcome of a run: one result per case, and the rules lacking an
    allow or a deny case."""

    results: tuple[CaseResult, ...]
    coverage_gaps: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> int:
        return sum(1 for result in self.results if result.passed)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.coverage_gaps

    @property
    def failures(self) -> tuple[CaseResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def run_policy_tests(*, engine: PolicyEngine, tests_dir: Path | None = None) -> PolicyTestReport:
    """Run every case of ``tests_dir`` (default: the engine's ``tests/``).

    Malformed test files raise ``PolicyLoadError`` naming file and line.
    """
    directory = tests_dir if tests_dir is not None else engine.directory / TESTS_DIR
    cases = load_cases(tests_dir=directory, rules=engine.rules)
    results = tuple(_run_case(engine, case) for case in cases)
    return PolicyTestReport(results=results, coverage_gaps=_coverage_gaps(engine, cases))


def load_cases(*, tests_dir: Path, rules: Mapping[str, Rule]) -> list[PolicyTestCase]:
    """Read every ``*.yaml`` below ``tests_dir``; ``rules`` are those a case may name."""
    if not tests_dir.is_dir():
        raise PolicyLoadError(
            [PolicyProblem(file=str(tests_dir), line=None, reason="no policy tests directory")]
        )
    problems: list[PolicyProblem] = []
    cases: list[PolicyTestCase] = []
    for path in sorted(tests_dir.rglob("*.yaml")):
        name = f"{TESTS_DIR}/{path.relative_to(tests_dir).as_posix()}"
        try:
            document = read_yaml(path=path, name=name)
            cases.extend(_cases_of(document, rules))
        except PolicyLoadError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PolicyLoadError(problems)
    return cases


def _problem(document: YamlDocument, path: tuple[str | int, ...], reason: str) -> PolicyLoadError:
    return PolicyLoadError(
        [PolicyProblem(file=document.name, line=document.line_of(path), reason=reason)]
    )


def _cases_of(document: YamlDocument, rules: Mapping[str, Rule]) -> list[PolicyTestCase]:
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise _problem(document, (), "a test file needs a list under 'cases'")
    unknown = set(data) - {"defaults", "cases"}
    if unknown:
        key = sorted(unknown)[0]
        raise _problem(document, (key,), f"unknown key {key!r}")
    defaults = data.get("defaults") or {}
    base = defaults.get("request", {}) if isinstance(defaults, dict) else None
    if not isinstance(base, dict):
        raise _problem(document, ("defaults",), "defaults needs a mapping under 'request'")
    cases: list[PolicyTestCase] = []
    for index, raw in enumerate(data["cases"]):
        at: tuple[str | int, ...] = ("cases", index)
        if not isinstance(raw, dict):
            raise _problem(document, at, "a case is a mapping")
        unknown = set(raw) - _CASE_KEYS
        if unknown:
            key = sorted(unknown)[0]
            raise _problem(document, (*at, key), f"unknown key {key!r}")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise _problem(document, at, "a case needs a name")
        rule = raw.get("rule")
        if rule is not None and rule not in rules:
            raise _problem(document, (*at, "rule"), f"no rule with @id {rule!r} in rules.cedar")
        override = raw.get("request") or {}
        if not isinstance(override, dict):
            raise _problem(document, (*at, "request"), "request must be a mapping")
        try:
            request = request_from_mapping(_merge(base, override))
        except RequestFormatError as exc:
            # Point at the key in the case when it is there, else at the defaults.
            path: tuple[str | int, ...] = (*at, "request", *exc.path)
            if document.lines.get(path) is None:
                path = ("defaults", "request", *exc.path)
                if document.lines.get(path) is None:
                    path = (*at, "request")
            raise _problem(document, path, f"{name}: {exc}") from exc
        expect = _expectation(document, (*at, "expect"), raw.get("expect"))
        # A deny case of a forbid rule must show that rule deciding, an allow
        # case of a permit rule that permit deciding (the other two show the
        # rule not applying), so a case cannot count for a rule it does not
        # exercise.
        if (
            rule is not None
            and not expect.allowed
            and rules[rule].effect == "forbid"
            and rule not in expect.policies
        ):
            raise _problem(
                document, (*at, "expect"), f"{name}: a deny case of {rule!r} must name it"
            )
        if (
            rule is not None
            and expect.allowed
            and rules[rule].effect == "permit"
            and rule not in expect.policies
        ):
            raise _problem(
                document, (*at, "expect"), f"{name}: an allow case of {rule!r} must name it"
            )
        cases.append(
            PolicyTestCase(
                file=document.name,
                line=document.line_of(at),
                name=name,
                rule=rule,
                request=request,
                expect=expect,
            )
        )
    return cases


def _expectation(document: YamlDocument, at: tuple[str | int, ...], raw: JSONValue) -> Expectation:
    if not isinstance(raw, dict):
        raise _problem(document, at, "a case needs 'expect' with a decision and policies")
    unknown = set(raw) - _EXPECT_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise _problem(document, (*at, key), f"unknown key {key!r}")
    decision = raw.get("decision")
    if decision not in ("allow", "deny"):
        raise _problem(document, (*at, "decision"), "decision must be allow or deny")
    lists: dict[str, frozenset[str] | None] = {}
    for key in _LIST_EXPECTATIONS:
        value = raw.get(key)
        if value is None:
            if key == "policies":
                raise _problem(document, at, "expect needs 'policies' (may be [])")
            lists[key] = None
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            lists[key] = frozenset(value)
        else:
            raise _problem(document, (*at, key), f"{key} must be a list of strings")
    policies = lists["policies"]
    assert policies is not None
    return Expectation(
        allowed=decision == "allow",
        policies=policies,
        reasons=lists["reasons"],
        drop_fields=lists["drop_fields"],
        uncovered_categories=lists["uncovered_categories"],
    )


def _merge(
    base: Mapping[str, JSONValue], override: Mapping[str, JSONValue]
) -> dict[str, JSONValue]:
    """``override`` merged into ``base``: mappings recursively, anything
    else replaced; a null value removes the key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _run_case(engine: PolicyEngine, case: PolicyTestCase) -> CaseResult:
    try:
        decision = engine.decide(case.request)
    except PolicyRequestError as exc:
        return CaseResult(case=case, passed=False, decision=None, message=str(exc))
    expect = case.expect
    mismatches: list[str] = []
    if decision.allowed != expect.allowed or frozenset(decision.policy_ids) != expect.policies:
        mismatches.append(
            f"expected {_outcome(expect.allowed, expect.policies)}, "
            f"got {_outcome(decision.allowed, decision.policy_ids)}"
        )
    checks: Sequence[tuple[str, frozenset[str] | None, tuple[str, ...]]] = (
        ("reasons", expect.reasons, decision.reasons),
        ("drop_fields", expect.drop_fields, decision.drop_fields),
        ("uncovered_categories", expect.uncovered_categories, decision.uncovered_categories),
    )
    for label, expected, actual in checks:
        if expected is not None and frozenset(actual) != expected:
            mismatches.append(f"expected {label} {sorted(expected)}, got {sorted(actual)}")
    if decision.errors:
        mismatches.append(f"evaluation errors: {'; '.join(decision.errors)}")
    return CaseResult(
        case=case, passed=not mismatches, decision=decision, message="; ".join(mismatches)
    )


def _outcome(allowed: bool, policies: frozenset[str] | tuple[str, ...]) -> str:
    verdict = "allow" if allowed else "deny"
    return f"{verdict} by [{', '.join(sorted(policies))}]"


def _coverage_gaps(engine: PolicyEngine, cases: Sequence[PolicyTestCase]) -> tuple[str, ...]:
    gaps: list[str] = []
    for rule_id, rule in engine.rules.items():
        tagged = [case for case in cases if case.rule == rule_id]
        for allowed, kind in ((True, "allow"), (False, "deny")):
            if not any(case.expect.allowed is allowed for case in tagged):
                gaps.append(
                    f"{engine.directory.name}/rules.cedar:{rule.line}: rule {rule_id!r} "
                    f"has no {kind} test case"
                )
    return tuple(gaps)
