"""A decision costs well under a millisecond (pytest-benchmark), and the
benchmark script runs."""

from __future__ import annotations

import runpy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from gateway.policy import PolicyEngine, PolicyRequest

REPOSITORY = Path(__file__).resolve().parents[2]
BENCH_SCRIPT = REPOSITORY / "bench" / "policy_bench.py"
# The request the bench script measures (bench/ is scripts, not a package).
realistic_request: Callable[[], PolicyRequest] = runpy.run_path(str(BENCH_SCRIPT))[
    "realistic_request"
]


@pytest.mark.benchmark(group="policy", max_time=0.2, min_rounds=50, warmup=True)
def test_a_decision_costs_well_under_a_millisecond(benchmark: BenchmarkFixture) -> None:
    engine = PolicyEngine.load(REPOSITORY / "policies")
    request = realistic_request()

    decision = benchmark(engine.decide, request)

    assert decision.allowed
    if benchmark.enabled and benchmark.stats is not None:
        assert benchmark.stats.stats.median < 0.001


def test_the_bench_script_reports_decisions_per_second() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(REPOSITORY / "bench" / "policy_bench.py"),
            "--iterations",
            "200",
            "--questions",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "realistic request" in completed.stdout
    catalogue_size = len(PolicyEngine.load(REPOSITORY / "policies").catalogue.questions)
    assert f"loaded {catalogue_size + 50} question types" in completed.stdout
    assert completed.stdout.count("decisions/s") == 4
