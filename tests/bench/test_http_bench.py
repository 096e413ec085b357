"""The HTTP benchmark reads wrk's report right (the figures in docs/benchmarks.md come from it)."""

from __future__ import annotations

import pytest

from bench.http_bench import parse_wrk

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
