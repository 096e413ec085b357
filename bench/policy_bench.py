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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import cedarpy

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


@dataclass(frozen=True)
class Timing:
    per_second: float
    p50_us: float
    p99_us: float


def rate(decide: Callable[[int], object], *, iterations: int) -> Timing:
    """Decisions per second of ``decide(i)`` over ``iterations`` calls, and the
    median and 99th percentile of one call."""
    for warm_up in range(min(iterations, 200)):
        decide(warm_up)
    clock = time.perf_counter_ns
    durations = [0] * iterations
    started = clock()
    for index in range(iterations):
        before = clock()
        decide(index)
        durations[index] = clock() - before
    elapsed = clock() - started
    durations.sort()
    return Timing(
        per_second=iterations / (elapsed / 1e9),
        p50_us=durations[iterations // 2] / 1e3,
        p99_us=durations[min(iterations - 1, iterations * 99 // 100)] / 1e3,
    )


def report(label: str, timing: Timing) -> None:
    print(
        f"{label:<52} {timing.per_second:>10,.0f} decisions/s  "
        f"p50 {timing.p50_us:>7.1f} µs  p99 {timing.p99_us:>7.1f} µs"
    )


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
    # The floor: Cedar's own evaluation of the same request through its Python binding,
    # with the request and the parsed entities prepared beforehand.
    question = engine.catalogue.questions[request.question_id or ""]
    cedar_request, entities = engine._to_cedar(request, question)
    floor = rate(
        lambda _: cedarpy.is_authorized(
            cedar_request,
            engine._policies,
            entities,
            engine._schema,
        ),
        iterations=args.iterations,
    )
    realistic = rate(lambda _: engine.decide(request), iterations=args.iterations)
    report("realistic request", realistic)
    print(
        f"{'baseline: Cedar alone, request prepared':<52} {floor.per_second:>10,.0f} evaluations/s"
        f"  p50 {floor.p50_us:>7.1f} µs  p99 {floor.p99_us:>7.1f} µs"
        f"  (engine p99 / Cedar p99 = {realistic.p99_us / floor.p99_us:.1f}x)"
    )
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
    user = request.principal
    assert isinstance(user, Principal)  # the bench's request is a user's
    users = [
        replace(people[index], principal=replace(user, user_id=f"user-{index}"))
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
