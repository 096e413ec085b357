"""``make bench``: run every benchmark and write ``docs/benchmarks.md``.

Each figure is reported beside its baseline from the same run (absolute times
on a shared 2-core machine are noisy; ratios much less so), with the machine,
the versions and the date, so that a later run can be compared with this one.

Usage: ``python bench/report.py [--duration 10] [--out docs/benchmarks.md]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from bench.http_bench import Run, run_benchmarks  # noqa: E402 - needs the path set above

PACKAGES = ("fastapi", "uvicorn", "sqlalchemy", "joserfc", "cedarpy", "cryptography")


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(f"{name} {version(name)}" for name in PACKAGES)
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else ""
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}); "
        f"Python {platform.python_version()}; {versions}; {wrk_version.strip()}"
    )


def _pick(runs: list[Run], target: str, scenario: str, connections: int) -> Run:
    return next(
        run
        for run in runs
        if run.target == target and run.scenario == scenario and run.connections == connections
    )


def http_table(runs: list[Run]) -> list[str]:
    lines = [
        "| scenario | connections | gateway req/s | baseline req/s | ratio "
        "| gateway p50 / p99 ms | baseline p50 / p99 ms | errors | gateway peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in ("ask", "token"):
        for connections in sorted({run.connections for run in runs}):
            gateway = _pick(runs, "gateway", scenario, connections)
            baseline = _pick(runs, "baseline", scenario, connections)
            ratio = gateway.requests_per_second / baseline.requests_per_second
            lines.append(
                f"| {scenario} | {connections} | {gateway.requests_per_second:,.0f} "
                f"| {baseline.requests_per_second:,.0f} | {ratio:.2f} "
                f"| {gateway.p50_ms:.1f} / {gateway.p99_ms:.1f} "
                f"| {baseline.p50_ms:.1f} / {baseline.p99_ms:.1f} "
                f"| {gateway.errors} | {gateway.peak_rss_mib:.0f} MiB |"
            )
    return lines


def script_output(script: str, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPOSITORY_ROOT / "bench" / script), *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--out", type=Path, default=REPOSITORY_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)

    started = datetime.now(UTC)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-") as temporary:
        runs = run_benchmarks(duration=args.duration, workdir=Path(temporary))
    policy = script_output("policy_bench.py")
    audit = script_output("audit_bench.py")

    document = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {started:%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {machine()}. Load average at the start: {load:.1f} "
        "(other work on the machine slows gateway and baseline alike; compare ratios).",
        "",
        "## HTTP: the gateway against a bare endpoint on the same stack",
        "",
        "One `gateway serve` process (one uvicorn worker, SQLite in WAL mode with full "
        "fsync on commit, demo data) and the bare FastAPI endpoint of "
        "`bench/baseline_app.py`, one after the other, each loaded by wrk in its own "
        f"process on loopback for {args.duration} s per run (token runs: at most 5 s, "
        "as each request needs a client assertion signed beforehand). `ask` is "
        "`POST /v1/queries` through the inbox adapter: token check, consent check, "
        "policy decision, durable audit append and the stored query, in one "
        "transaction. `token` is `POST /oauth/token` with `client_credentials` and "
        "`private_key_jwt` (ES256).",
        "",
        *http_table(runs),
        "",
        "Targets (issue 9): ask at least 0.35 of the baseline with p99 under 3 ms at 8 "
        "connections; at least 1,000 tokens per second.",
        "",
        "## Policy decisions (`bench/policy_bench.py`)",
        "",
        "```",
        policy,
        "```",
        "",
        "## Audit verification (`bench/audit_bench.py`)",
        "",
        "```",
        audit,
        "```",
        "",
        "<details><summary>Raw HTTP runs</summary>",
        "",
        "```",
        *(str(asdict(run)) for run in runs),
        "```",
        "",
        "</details>",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(document), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
