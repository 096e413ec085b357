"""Measures policy decisions per second.

Runs: a realistic request (an integration manager asks about a wage subsidy
under a covering consent) repeated; the same user asking about a new person
each time (the consent misses the engine's parsed-entity cache); a new user
and a new person each time (nothing cached); and decisions against a
catalogue of 1,000 generated question types written to a temporary copy of
the policies directory.

    python bench/policy_bench.py [--iterations N] [--questions N] [--policies-dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    # Run as a plain script from a checkout, installed or not.
    sys.path.insert(0, str(REPOSITORY_ROOT))

from gateway.policy import (  # noqa: E402 - needs the path set above
    Action,
    ConsentFacts,
    ConsentStatus,
    Direction,
    OrganisationKind,
    PolicyEngine,
    PolicyRequest,
    Principal,
    Role,
)


def realistic_request(*, question_id: str = "wage_subsidy_coordination") -> PolicyRequest:
    """An integration manager of Stadt Brackenheim asks the jobcenter."""
    consent = ConsentFacts(
        id="consent-bench",
        status=ConsentStatus.ACTIVE,
        grantee_organisation_id="org-brackenheim",
        jobcenter_organisation_id="org-jc-heilbronn",
        purposes=frozenset({"benefit_coordination", "wage_subsidy", "bridging_benefit"}),
        categories=frozenset({"benefit_status", "job_offer", "wage_subsidy", "bridging_benefit"}),
        directions=frozenset({Direction.MUNICIPALITY_ASKS_JOBCENTER}),
        valid_from=datetime(2025, 5, 1, tzinfo=UTC),
        valid_until=datetime(2026, 5, 1, tzinfo=UTC),
    )
    return PolicyRequest(
        principal=Principal(
            user_id="anna",
            role=Role.INTEGRATION_MANAGER,
            organisation_id="org-brackenheim",
            organisation_kind=OrganisationKind.MUNICIPALITY,
        ),
        action=Action.ASK,
        now=datetime(2025, 6, 2, 7, 0, tzinfo=UTC),
        question_id=question_id,
        consent=consent,
        questions_today=3,
        free_text_allowed=True,
    )


def write_large_catalogue(*, source: Path, target: Path, questions: int) -> None:
    """Copy the policies directory to ``target`` and append ``questions``
    generated question types to its catalogue."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    lines = [(target / "questions.yaml").read_text(encoding="utf-8").rstrip("\n")]
    for number in range(questions):
        lines.append(
            f"""
  - id: generated_{number:05d}
    direction: municipality_asks_jobcenter
    purpose: benefit_coordination
    categories: [benefit_status]
    deadline_days: 3
    answer_schema:
      type: object
      additionalProperties: false
      required: [status]
      properties:
        status:
          enum: [yes, no, unknown]
          x-category: benefit_status
        approved_until:
          type: string
          format: date
          x-category: benefit_status
        contact:
          type: string
          x-category: assigned_contact"""
        )
    (target / "questions.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def rate(decide: Callable[[int], object], *, iterations: int) -> float:
    """Decisions per second of ``decide(i)`` over ``iterations`` calls."""
    for warm_up in range(min(iterations, 200)):
        decide(warm_up)
    started = time.perf_counter()
    for index in range(iterations):
        decide(index)
    return iterations / (time.perf_counter() - started)


def report(label: str, per_second: float) -> None:
    print(f"{label:<52} {per_second:>10,.0f} decisions/s  {1e6 / per_second:>7.1f} µs/decision")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5_000, help="decisions per run")
    parser.add_argument("--questions", type=int, default=1_000, help="generated question types")
    parser.add_argument(
        "--policies-dir", type=Path, default=REPOSITORY_ROOT / "policies", help="policies to load"
    )
    args = parser.parse_args(argv)

    engine = PolicyEngine.load(args.policies_dir)
    request = realistic_request()
    decision = engine.decide(request)
    if not decision.allowed:
        print(f"the realistic request was denied: {decision.reasons}", file=sys.stderr)
        return 1
    report("realistic request", rate(lambda _: engine.decide(request), iterations=args.iterations))
    consent = request.consent
    assert consent is not None
    people = [
        replace(request, consent=replace(consent, id=f"consent-{index}"))
        for index in range(args.iterations)
    ]
    report(
        "same user, a new person (consent) each time",
        rate(lambda index: engine.decide(people[index]), iterations=args.iterations),
    )
    users = [
        replace(people[index], principal=replace(request.principal, user_id=f"user-{index}"))
        for index in range(args.iterations)
    ]
    report(
        "a new user and a new person each time (no cache)",
        rate(lambda index: engine.decide(users[index]), iterations=args.iterations),
    )

    with tempfile.TemporaryDirectory(prefix="policy-bench-") as temporary:
        directory = Path(temporary) / "policies"
        write_large_catalogue(source=args.policies_dir, target=directory, questions=args.questions)
        started = time.perf_counter()
        large = PolicyEngine.load(directory)
        loaded_in = time.perf_counter() - started
        print(f"loaded {len(large.catalogue.questions):,} question types in {loaded_in:.2f} s")
        generated = [
            replace(request, question_id=f"generated_{index % args.questions:05d}")
            for index in range(args.iterations)
        ]
        if not large.decide(generated[0]).allowed:
            print("a generated question was denied", file=sys.stderr)
            return 1
        report(
            f"{len(large.catalogue.questions):,} question types, varying question",
            rate(lambda index: large.decide(generated[index]), iterations=args.iterations),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
