"""The `gateway policies check|test|explain` commands (gateway.policy.cli)."""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from gateway.policy.cli import add_commands

REPOSITORY_POLICIES = Path(__file__).resolve().parents[2] / "policies"

EXPLAIN_REQUEST = {
    "principal": {
        "user_id": "anna",
        "role": "integration_manager",
        "organisation_id": "org-brackenheim",
        "organisation_kind": "municipality",
    },
    "action": "ask",
    "question_id": "benefit_status",
    "now": "2025-06-02T09:00:00+02:00",
    "consent": {
        "id": "consent-1",
        "status": "active",
        "grantee_organisation_id": "org-brackenheim",
        "jobcenter_organisation_id": "org-jc-heilbronn",
        "purposes": ["benefit_coordination"],
        "categories": ["assigned_contact"],
        "directions": ["municipality_asks_jobcenter"],
        "valid_from": "2025-05-01T00:00:00+02:00",
        "valid_until": "2026-05-01T00:00:00+02:00",
    },
}


def run(argv: list[str], policies_dir: Path) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args, policies_dir)
    return result


def test_check_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["policies", "check"], REPOSITORY_POLICIES) == 0
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", capsys.readouterr().out)


def test_check_reports_file_line_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPOSITORY_POLICIES, policies)
    limits = policies / "limits.yaml"
    original = limits.read_text(encoding="utf-8")
    limits.write_text(
        original.replace(
            "questions_per_user_per_subject_per_day: 20",
            "questions_per_user_per_subject_per_day: many",
        ),
        encoding="utf-8",
    )
    assert run(["policies", "check"], policies) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert re.match(
        rf"{re.escape(str(limits))}:\d+: questions_per_user_per_subject_per_day: ", captured.err
    )


def test_test_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["policies", "test"], REPOSITORY_POLICIES) == 0
    assert re.fullmatch(r"\d+ passed, 0 failed\n", capsys.readouterr().out)


def test_test_fails_on_a_wrong_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPOSITORY_POLICIES, policies)
    rules = policies / "rules.cedar"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace(
            'context.consent.status != "active"', 'context.consent.status == "expired"'
        ),
        encoding="utf-8",
    )
    assert run(["policies", "test"], policies) == 1
    captured = capsys.readouterr()
    assert re.fullmatch(r"\d+ passed, [1-9]\d* failed\n", captured.out)
    assert "FAIL " in captured.err
    assert "tests/consent.yaml:" in captured.err
    assert "a revoked consent: expected deny by [consent.active]" in captured.err


def test_explain_reads_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps(EXPLAIN_REQUEST), encoding="utf-8")
    assert run(["policies", "explain", str(request)], REPOSITORY_POLICIES) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["decision"] == "deny"
    assert decision["policy_ids"] == ["consent.covers_categories"]
    assert decision["reasons"] == ["consent_category_not_covered"]
    assert decision["uncovered_categories"] == ["benefit_status"]
    assert decision["policy_version"].startswith("sha256:")


def test_explain_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    allowed = {**EXPLAIN_REQUEST, "question_id": "assigned_contact"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(allowed)))
    assert run(["policies", "explain", "-"], REPOSITORY_POLICIES) == 0
    decision = json.loads(capsys.readouterr().out)
    assert (decision["decision"], decision["policy_ids"]) == ("allow", ["ask.integration_manager"])


def test_explain_rejects_a_malformed_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({**EXPLAIN_REQUEST, "action": "x"})))
    assert run(["policies", "explain", "-"], REPOSITORY_POLICIES) == 2
    assert "-: action: 'x' is not one of ask, answer" in capsys.readouterr().err


def test_who_may_names_every_rule_that_decides_an_action(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Who reads a person's birth date: answered from policies/ alone."""
    assert run(["policies", "who-may", "read_person"], REPOSITORY_POLICIES) == 0
    printed = capsys.readouterr().out
    assert "permit person.read.staff_with_standing" in printed
    assert "name, birth date" in printed  # the rule's own comment
    assert "consent_records" not in printed  # rules of other actions stay out
    assert run(["policies", "who-may", "ask"], REPOSITORY_POLICIES) == 0
    asked = capsys.readouterr().out
    assert "permit ask.integration_manager" in asked
    assert "forbid consent.required (denies with no_consent)" in asked
