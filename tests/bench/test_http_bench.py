"""The HTTP benchmark reads wrk's report right (the figures in docs/benchmarks.md come from it),
routes the rest scenario's jobcenter to the simulator, and fills the scale database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import yaml

from bench.http_bench import SIMULATED_JOBCENTER, bench_policies, fill_consents, parse_wrk

REPORT = """Running 5s test @ http://127.0.0.1:41893
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   458.81ms  674.86ms   3.20s    86.57%
    Req/Sec    19.90     12.61    50.00     71.64%
  Latency Distribution
     50%  930.00us
     75%  650.87ms
     90%    1.49s{trailing}
     99%    2.83s{trailing}
  152 requests in 5.06s, 151.85KB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:     30.02
Transfer/sec:     29.99KB
""".format(trailing=" ")  # wrk pads some durations with a space


def test_rate_percentiles_in_milliseconds_and_every_kind_of_error() -> None:
    figures = parse_wrk(REPORT)
    assert figures["requests_per_second"] == pytest.approx(30.02)
    assert figures["p50_ms"] == pytest.approx(0.93)
    assert figures["p99_ms"] == pytest.approx(2830.0)
    assert figures["requests"] == 152
    assert figures["errors"] == 4 + 1 + 2


def test_a_report_without_percentiles_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected wrk output"):
        parse_wrk(REPORT.replace("     99%    2.83s \n", ""))


def test_bench_policies_route_only_the_named_jobcenter_to_the_simulator(tmp_path: Path) -> None:
    inbox = bench_policies(tmp_path / "inbox")
    rest = bench_policies(tmp_path / "rest", simulated={SIMULATED_JOBCENTER})

    def adapters(policies: Path) -> dict[str, str]:
        routing = yaml.safe_load((policies / "routing.yaml").read_text(encoding="utf-8"))
        return {item["key"]: item["adapter"] for item in routing["jobcenters"]}

    assert adapters(inbox)[SIMULATED_JOBCENTER] == "inbox"
    assert adapters(rest)[SIMULATED_JOBCENTER] == "simulator"
    limits = yaml.safe_load((rest / "limits.yaml").read_text(encoding="utf-8"))
    assert limits["questions_per_user_per_subject_per_day"] == 10_000


def test_fill_consents_copies_the_first_with_fresh_unique_values(tmp_path: Path) -> None:
    database = tmp_path / "scale.db"
    connection = sqlite3.connect(database)
    connection.executescript(
        """
        CREATE TABLE consents (
            id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, grantee_id TEXT NOT NULL,
            self_service_index TEXT NOT NULL UNIQUE, confirmation_hash TEXT UNIQUE
        );
        INSERT INTO consents VALUES ('con_1', 'sub_1', 'org_1', 'index-1', NULL);
        """
    )
    connection.commit()
    fill_consents(database, total=50)
    rows = connection.execute(
        "SELECT count(*), count(DISTINCT subject_id), count(DISTINCT self_service_index), "
        "count(confirmation_hash), count(DISTINCT grantee_id) FROM consents"
    ).fetchone()
    connection.close()
    assert rows == (50, 50, 50, 0, 1)
