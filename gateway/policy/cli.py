"""The ``gateway policies`` commands: ``check`` validates the policies
directory and prints its version, ``test`` runs the policy test cases,
``explain`` decides one request given as JSON and prints the decision,
``who-may`` prints the rules that decide one action: the permits saying who
may, then the forbids that must not apply.

The project CLI adds these with ``add_commands`` and calls
``args.func(args, settings.policies_dir)``; each returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.policy.engine import PolicyEngine, PolicyRequestError
from gateway.policy.loader import PolicyLoadError
from gateway.policy.models import Action
from gateway.policy.requests import RequestFormatError, request_from_mapping
from gateway.policy.testing import run_policy_tests

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``policies check|test|explain`` to the project CLI."""
    parser = subparsers.add_parser(
        "policies",
        help="check, test and explain the policy rules",
        description="Work with the policies directory (GATEWAY_POLICIES_DIR).",
    )
    commands = parser.add_subparsers(dest="policies_command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check", help="validate every policy file and print the policy version"
    )
    check.set_defaults(func=check_command)

    test = commands.add_parser("test", help="run the policy test cases (policies/tests)")
    test.add_argument(
        "--tests-dir", type=Path, default=None, help="another directory of test cases"
    )
    test.add_argument("-v", "--verbose", action="store_true", help="list every case")
    test.set_defaults(func=test_command)

    explain = commands.add_parser(
        "explain", help="decide one request (JSON) and print the decision as JSON"
    )
    explain.add_argument("request", help="path of a JSON file with the request, or - for stdin")
    explain.set_defaults(func=explain_command)

    who_may = commands.add_parser(
        "who-may",
        help="print the rules that decide an action (e.g. read_person: who reads a birth date)",
    )
    who_may.add_argument("action", choices=[action.value for action in Action])
    who_may.set_defaults(func=who_may_command)


def _load(policies_dir: Path) -> PolicyEngine | None:
    try:
        return PolicyEngine.load(policies_dir)
    except PolicyLoadError as exc:
        _print_problems(exc, policies_dir)
        return None


def _print_problems(error: PolicyLoadError, policies_dir: Path) -> None:
    for problem in error.problems:
        print(
            f"{policies_dir / problem.file}:{problem.line or 1}: {problem.reason}", file=sys.stderr
        )


def check_command(args: argparse.Namespace, policies_dir: Path) -> int:
    engine = _load(policies_dir)
    if engine is None:
        return EXIT_FAILED
    print(engine.version)
    return EXIT_OK


def test_command(args: argparse.Namespace, policies_dir: Path) -> int:
    engine = _load(policies_dir)
    if engine is None:
        return EXIT_FAILED
    try:
        report = run_policy_tests(engine=engine, tests_dir=args.tests_dir)
    except PolicyLoadError as exc:
        _print_problems(exc, policies_dir)
        return EXIT_FAILED
    for result in report.results:
        if not result.passed:
            print(
                f"FAIL {policies_dir / result.location}: {result.case.name}: {result.message}",
                file=sys.stderr,
            )
        elif args.verbose:
            print(f"ok   {policies_dir / result.location}: {result.case.name}")
    for gap in report.coverage_gaps:
        print(f"MISSING {gap}", file=sys.stderr)
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED


def explain_command(args: argparse.Namespace, policies_dir: Path) -> int:
    engine = _load(policies_dir)
    if engine is None:
        return EXIT_FAILED
    try:
        if args.request == "-":
            text = sys.stdin.read()
        else:
            text = Path(args.request).read_text(encoding="utf-8")
        request = request_from_mapping(json.loads(text))
        decision = engine.decide(request)
    except (OSError, json.JSONDecodeError, RequestFormatError, PolicyRequestError) as exc:
        print(f"{args.request}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(decision.as_dict(), ensure_ascii=False, indent=2))
    return EXIT_OK


def who_may_command(args: argparse.Namespace, policies_dir: Path) -> int:
    engine = _load(policies_dir)
    if engine is None:
        return EXIT_FAILED
    action = Action(args.action)
    names = {action.value, *(["exchange"] if action.is_exchange else [])}
    deciding = [
        rule for rule in engine.rules.values() if rule.actions is None or rule.actions & names
    ]
    lines = (policies_dir / "rules.cedar").read_text(encoding="utf-8").splitlines()
    print(f"# {action.value}: permitted when a permit applies and no forbid does")
    for effect in ("permit", "forbid"):
        for rule in (r for r in deciding if r.effect == effect):
            reason = f" (denies with {rule.reason})" if rule.reason else ""
            print(f"\n## {effect} {rule.id}{reason}, rules.cedar line {rule.line}")
            for line in _comment_above(lines, rule.line):
                print(line)
            print(rule.text.strip())
    return EXIT_OK


def _comment_above(lines: list[str], line: int) -> list[str]:
    """The ``//`` comment lines right above line ``line`` (1-based) of rules.cedar."""
    start = line - 1
    while start > 0 and lines[start - 1].lstrip().startswith("//"):
        start -= 1
    return lines[start : line - 1]
