"""HTTP throughput and latency of the gateway, as ratios to a bare baseline in the same run.

One ``gateway serve`` process (one uvicorn worker, SQLite in a fresh data
directory with the demo data) and, one after the other on the same server
stack, the bare endpoint of ``bench/baseline_app.py``. The load generator is
wrk (Debian's package) in its own process on loopback, with a fixed duration
per run; it stops by itself. Every server listens on 127.0.0.1 only.

Scenarios:

- ``ask``: ``POST /v1/queries`` through the inbox adapter (token check, consent
  check, policy decision, durable audit append, query stored), a fresh
  ``Idempotency-Key`` per request, cycling through ``PERSONS`` people with a
  consent each. The benchmark's copy of ``policies/`` raises the daily
  question limit per person to the highest value the loader accepts, so every
  ask is a permitted ask (the rule is still evaluated on each one);
- ``token``: ``POST /oauth/token`` with ``client_credentials`` and
  ``private_key_jwt``, one pre-signed client assertion per request;
- ``ask-rest``: the same ask, with the jobcenter routed (``routing.yaml`` of a
  second gateway's policies) to the rest adapter and on to the jobcenter
  simulator (``python -m adapters.simulator``, its own process) over mutual
  TLS with certificates made for the run; the simulator answers at once, so
  each ask also delivers, receives, validates and stores the answer;
- ``ask-scale``: ask latency (one connection, so no queueing) on a database
  holding ``SCALE_LARGE`` consents and audit events against one holding
  ``SCALE_SMALL``. The audit trail is built by ``bench/audit_bench.py``'s
  ``build_trail`` (valid chain and checkpoints, bulk-inserted); consents are
  copies of a real one with new ids, bulk-inserted with ``executemany``. Both
  gateways run side by side and wrk alternates between them for
  ``SCALE_ROUNDS`` rounds; each figure is the median of its rounds.

Usage: ``python bench/http_bench.py [--duration 10] [--json results.json]
[--scenarios ask,token,ask-rest,ask-scale]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from gateway import demo  # noqa: E402 - needs the path set above
from gateway.auth.rfc7523 import CLIENT_ASSERTION_TYPE  # noqa: E402

GATEWAY = str(Path(sys.executable).with_name("gateway"))
WRK_SCRIPTS = REPOSITORY_ROOT / "bench" / "wrk"
CONNECTIONS = (8, 64)
PERSONS = 32
TOKEN_SECONDS = 5
WRK_THREADS = 2
SCENARIOS = ("ask", "token", "ask-rest", "ask-scale")
SCALE_SMALL = 1_000
SCALE_LARGE = 1_000_000
SCALE_CONNECTIONS = 1
SCALE_ROUNDS = 3
# Seconds of load before the ask runs are measured. A freshly started gateway speeds up over
# its first 20 seconds or so of asks (four 6 s runs one after the other: 220, 311, 400 and
# 464 asks/s at 8 connections); a gateway in service has long passed that. Token runs warm up
# for a second only: each request spends a client assertion signed beforehand.
ASK_WARM_UP = 20
SIMULATED_JOBCENTER = "JC-08125"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Run:
    """One wrk run: requests per second, latency percentiles in milliseconds, errors."""

    target: str
    scenario: str
    connections: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    peak_rss_mib: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50, p99, the request count and the error count of wrk's report."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, flags=re.MULTILINE))
    requests = re.search(r"^\s+(\d+) requests in", output, flags=re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, flags=re.MULTILINE)
    if requests is None or rate is None or set(percentiles) != {"50", "99"}:
        raise ValueError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    return {
        "requests_per_second": float(rate.group(1)),
        "p50_ms": _milliseconds(percentiles["50"]),
        "p99_ms": _milliseconds(percentiles["99"]),
        "requests": float(requests.group(1)),
        "errors": float(errors),
    }


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(
    *, url: str, script: str, connections: int, duration: int, env: dict[str, str]
) -> dict[str, float]:
    command = [
        "wrk",
        f"-t{min(WRK_THREADS, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(WRK_SCRIPTS / script),
        url,
    ]
    done = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return parse_wrk(done.stdout)


def wait_ready(url: str, process: subprocess.Popen[bytes], *, path: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server at {url} did not start")
        time.sleep(0.2)


@contextmanager
def server(command: list[str], *, env: dict[str, str], url: str, ready: str) -> Iterator[int]:
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(url, process, path=ready)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def bench_policies(target: Path, *, simulated: Iterable[str] = ()) -> Path:
    """A copy of ``policies/`` whose daily question limit per person does not bite in a run.

    Jobcenters named in ``simulated`` answer through the simulator (``adapter: simulator``,
    reached over mutual TLS when ``GATEWAY_SIMULATOR_URL`` is set).
    """
    shutil.copytree(REPOSITORY_ROOT / "policies", target)
    limits_file = target / "limits.yaml"
    limits = yaml.safe_load(limits_file.read_text(encoding="utf-8"))
    limits["questions_per_user_per_subject_per_day"] = 10_000
    limits_file.write_text(yaml.safe_dump(limits), encoding="utf-8")
    routing_file = target / "routing.yaml"
    routing = yaml.safe_load(routing_file.read_text(encoding="utf-8"))
    for jobcenter in routing["jobcenters"]:
        if jobcenter["key"] in simulated:
            jobcenter["adapter"] = "simulator"
    routing_file.write_text(yaml.safe_dump(routing, allow_unicode=True), encoding="utf-8")
    return target


def prepare_person(url: str, token: str, jobcenter_id: str, number: int) -> str:
    """A person with an active consent for benefit coordination; returns the subject id."""
    headers = {"Authorization": f"Bearer {token}"}
    subject = httpx.post(
        f"{url}/v1/subjects",
        headers=headers,
        json={
            "given_name": f"Olena {number}",
            "family_name": "Beispielenko",
            "birth_date": "1985-11-03",
        },
    )
    subject.raise_for_status()
    subject_id: str = subject.json()["id"]
    consent = httpx.post(
        f"{url}/v1/consents",
        headers=headers,
        json={
            "subject_id": subject_id,
            "jobcenter_id": jobcenter_id,
            "purposes": ["benefit_coordination"],
            "categories": ["benefit_status"],
            "directions": ["municipality_asks_jobcenter"],
            "valid_until": (date.today() + timedelta(days=365)).isoformat(),
            "language": "de",
            "evidence": {"channel": "paper_signature"},
        },
    )
    consent.raise_for_status()
    return subject_id


def signed_token_requests(*, key_file: Path, token_endpoint: str, count: int, path: Path) -> None:
    """Form bodies of ``count`` token requests, each with a client assertion of its own.

    Signed right before the runs, valid for ten minutes (the gateway's longest),
    so none expires while wrk works through them.
    """
    with path.open("w", encoding="utf-8") as out:
        for _ in range(count):
            client_id, assertion = demo.signed_assertion(
                key_file=key_file, audience=token_endpoint, lifetime=600
            )
            form = {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
                "scope": "queries:ask",
            }
            out.write(urlencode(form) + "\n")


@dataclass(frozen=True)
class Gateway:
    """A seeded gateway's data: where it listens, its environment, and what wrk sends."""

    url: str
    env: dict[str, str]
    summary: dict[str, Any]


def seed_gateway(workdir: Path, *, extra: dict[str, str] | None = None) -> Gateway:
    """Demo data in a fresh data directory (or the database ``extra`` names)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "GATEWAY_ENV": "development",
        "GATEWAY_DATA_DIR": str(workdir / "data"),
        "GATEWAY_ISSUER": url,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_PORT": str(port),
        **(extra or {}),
    }
    if "GATEWAY_POLICIES_DIR" not in env:
        env["GATEWAY_POLICIES_DIR"] = str(bench_policies(workdir / "policies"))
    seeded = subprocess.run(
        [GATEWAY, "demo", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return Gateway(url=url, env=env, summary=json.loads(seeded.stdout))


@contextmanager
def serve_gateway(gateway: Gateway) -> Iterator[int]:
    command = [GATEWAY, "serve", "--port", gateway.env["GATEWAY_PORT"]]
    with server(command, env=gateway.env, url=gateway.url, ready="/readyz") as pid:
        yield pid


def ask_load(gateway: Gateway, workdir: Path, *, run: str) -> dict[str, str]:
    """People with consents, and the environment of ``ask.lua`` that asks about them."""
    manager = gateway.summary["users"]["integration_manager"]["id"]
    token = subprocess.run(
        [GATEWAY, "demo-token", "--raw", "--user", manager],
        env={**os.environ, **gateway.env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    jobcenter = gateway.summary["organisations"][SIMULATED_JOBCENTER]["id"]
    bodies = workdir / f"ask-bodies-{run}.txt"
    with bodies.open("w", encoding="utf-8") as out:
        for number in range(PERSONS):
            subject_id = prepare_person(gateway.url, token, jobcenter, number)
            body = {
                "subject_id": subject_id,
                "question": "benefit_status",
                "purpose": "benefit_coordination",
            }
            out.write(json.dumps(body) + "\n")
    return {"BENCH_TOKEN": token, "BENCH_BODIES": str(bodies), "BENCH_RUN": run}


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")
        time.sleep(0.2)


@contextmanager
def simulator(certs: Path) -> Iterator[str]:
    """The jobcenter simulator over mutual TLS on loopback; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.simulator", "--port", str(port), "--certs", str(certs)],
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, process)
        yield f"https://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def development_certificates(target: Path) -> Path:
    """A CA, the server's and the gateway's client certificate, made for this run."""
    subprocess.run(
        [sys.executable, str(REPOSITORY_ROOT / "certs-dev" / "generate.py"), "--out", str(target)],
        capture_output=True,
        check=True,
    )
    return target


def fill_consents(database: Path, *, total: int) -> None:
    """Copies of the first consent with new ids until the table holds ``total`` rows.

    Each copy is about a person of its own (subject ids that no ask uses) and
    with the same municipality and jobcenter, as when one municipality records
    many consents. Columns with a unique constraint get fresh values; one
    ``executemany`` per batch, one transaction. No foreign key checks: the
    people of the copies exist only as ids.
    """
    connection = sqlite3.connect(database, timeout=30)
    try:
        cursor = connection.execute("SELECT * FROM consents ORDER BY rowid LIMIT 1")
        columns = [item[0] for item in cursor.description]
        template = cursor.fetchone()
        present = connection.execute("SELECT count(*) FROM consents").fetchone()[0]
        unique = {"id", "subject_id"}
        for index in connection.execute("PRAGMA index_list('consents')").fetchall():
            if index[2]:  # unique
                unique.update(
                    row[2] for row in connection.execute(f"PRAGMA index_info('{index[1]}')")
                )
        fresh = [position for position, name in enumerate(columns) if name in unique]

        def copies() -> Iterator[list[object]]:
            for number in range(total - present):
                row = list(template)
                for position in fresh:
                    if row[position] is not None:
                        row[position] = f"{columns[position][:3]}_fill{number:010d}"
                yield row

        names, marks = ", ".join(columns), ", ".join("?" * len(columns))
        # The column names come from the table itself, not from input.
        statement = f"INSERT INTO consents ({names}) VALUES ({marks})"  # noqa: S608
        with connection:
            connection.executemany(statement, copies())
        # Move the rows from the write-ahead log into the database file now: left there,
        # the gateway's first commits would copy them over (SQLite's automatic
        # checkpoint) and the run would time that instead of asks.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def scale_gateway(workdir: Path, *, size: int) -> Gateway:
    """A gateway on a database with ``size`` audit events (a valid trail) before the demo data.

    ``build_trail`` of ``bench/audit_bench.py`` writes the trail (it knows the
    audit schema of the day); the demo data and the people's consents then
    come through the gateway as usual, and ``fill_consents`` adds the rest.
    """
    from bench.audit_bench import build_trail  # only this scenario needs it (and psycopg)

    workdir.mkdir(parents=True)
    url = build_trail(workdir, size)
    return seed_gateway(workdir, extra={"GATEWAY_DATABASE_URL": url})


def scale_runs(workdir: Path, *, run_id: str, duration: int) -> list[Run]:
    """Ask latency on the small and the large database, measured in alternation.

    Both gateways run side by side (only one is loaded at a time) and wrk
    alternates between them for ``SCALE_ROUNDS`` rounds; each figure is the
    median of its rounds. Load from other work on a shared machine drifts over
    a minute, and alternating spreads it over both sizes alike.
    """
    rounds: dict[int, list[dict[str, float]]] = {SCALE_SMALL: [], SCALE_LARGE: []}
    with ExitStack() as stack:
        loaded: list[tuple[int, Gateway, int, dict[str, str]]] = []
        for size in rounds:
            scaled = scale_gateway(workdir / f"scale-{size}", size=size)
            pid = stack.enter_context(serve_gateway(scaled))
            scale_env = ask_load(scaled, workdir, run=f"scale{size}-{run_id}")
            database = Path(scaled.env["GATEWAY_DATABASE_URL"].removeprefix("sqlite:///"))
            fill_consents(database, total=size)
            wrk(  # warm up
                url=scaled.url,
                script="ask.lua",
                connections=SCALE_CONNECTIONS,
                duration=1,
                env=scale_env,
            )
            loaded.append((size, scaled, pid, scale_env))
        for _ in range(SCALE_ROUNDS):
            for size, scaled, _pid, scale_env in loaded:
                figures = wrk(
                    url=scaled.url,
                    script="ask.lua",
                    connections=SCALE_CONNECTIONS,
                    duration=duration,
                    env=scale_env,
                )
                rounds[size].append(figures)
        return [
            Run(
                target=f"{size:,} rows",
                scenario="ask-scale",
                connections=SCALE_CONNECTIONS,
                requests_per_second=median(r["requests_per_second"] for r in rounds[size]),
                p50_ms=median(r["p50_ms"] for r in rounds[size]),
                p99_ms=median(r["p99_ms"] for r in rounds[size]),
                requests=int(sum(r["requests"] for r in rounds[size])),
                errors=int(sum(r["errors"] for r in rounds[size])),
                peak_rss_mib=peak_rss_mib(pid),
            )
            for size, _scaled, pid, _env in loaded
        ]


def run_benchmarks(
    *, duration: int, workdir: Path, scenarios: Sequence[str] = SCENARIOS
) -> list[Run]:
    runs: list[Run] = []
    run_id = secrets.token_hex(4)
    target_url = ""

    def measure(
        target: str,
        scenario: str,
        script: str,
        pid: int,
        extra: dict[str, str],
        seconds: int,
        connections: Sequence[int] = CONNECTIONS,
        warm_up: int = 1,
    ) -> None:
        # Requests sent so far in this scenario (plus those in flight when a run stopped):
        # the token script skips the assertions they used, as each is good for one use.
        sent = 0

        def load(count: int, run_seconds: int) -> dict[str, float]:
            nonlocal sent
            figures = wrk(
                url=target_url,
                script=script,
                connections=count,
                duration=run_seconds,
                env={**extra, "BENCH_SKIP": str(sent)},
            )
            sent += int(figures["requests"]) + count
            return figures

        load(8, warm_up)
        for count in connections:
            figures = load(count, seconds)
            runs.append(
                Run(
                    target=target,
                    scenario=scenario,
                    connections=count,
                    requests_per_second=figures["requests_per_second"],
                    p50_ms=figures["p50_ms"],
                    p99_ms=figures["p99_ms"],
                    requests=int(figures["requests"]),
                    errors=int(figures["errors"]),
                    peak_rss_mib=peak_rss_mib(pid),
                )
            )

    gateway = seed_gateway(workdir / "inbox")
    target_url = gateway.url
    ask_env: dict[str, str] = {}
    token_env: dict[str, str] = {}
    with serve_gateway(gateway) as pid:
        ask_env = ask_load(gateway, workdir, run=f"gw-{run_id}")
        if "ask" in scenarios:
            measure("gateway", "ask", "ask.lua", pid, ask_env, duration, warm_up=ASK_WARM_UP)
        if "token" in scenarios:
            assertions = workdir / "token-requests.txt"
            key_file = Path(gateway.summary["clients"]["case-system"]["private_key"])
            # Signing takes longer than verifying: shorter runs, with enough single-use
            # assertions for the warm-up and both runs at twice the target rate.
            signed_token_requests(
                key_file=key_file,
                token_endpoint=f"{gateway.url}/oauth/token",
                count=2_000 * (2 * TOKEN_SECONDS + 1),
                path=assertions,
            )
            token_env = {"BENCH_ASSERTIONS": str(assertions), "BENCH_THREADS": str(WRK_THREADS)}
            measure("gateway", "token", "token.lua", pid, token_env, TOKEN_SECONDS)

    if "ask-rest" in scenarios:
        certs = development_certificates(workdir / "certs")
        with simulator(certs) as simulator_url:
            rest = seed_gateway(
                workdir / "rest",
                extra={
                    "GATEWAY_POLICIES_DIR": str(
                        bench_policies(workdir / "rest-policies", simulated={SIMULATED_JOBCENTER})
                    ),
                    "GATEWAY_SIMULATOR_URL": simulator_url,
                    "GATEWAY_ADAPTER_CERTS_DIR": str(certs),
                },
            )
            target_url = rest.url
            with serve_gateway(rest) as pid:
                rest_env = ask_load(rest, workdir, run=f"rest-{run_id}")
                measure(
                    "gateway", "ask-rest", "ask.lua", pid, rest_env, duration, warm_up=ASK_WARM_UP
                )

    if "ask-scale" in scenarios:
        runs.extend(scale_runs(workdir, run_id=run_id, duration=duration))

    baseline_port = free_port()
    target_url = f"http://127.0.0.1:{baseline_port}"
    baseline = [
        sys.executable,
        "-c",
        "import uvicorn; uvicorn.run('bench.baseline_app:app', host='127.0.0.1', "
        f"port={baseline_port}, log_config=None, access_log=False)",
    ]
    with server(
        baseline, env={"PYTHONPATH": str(REPOSITORY_ROOT)}, url=target_url, ready="/docs"
    ) as pid:
        if {"ask", "ask-rest"} & set(scenarios):
            ask_env = {**ask_env, "BENCH_RUN": f"base-{run_id}"}
            measure("baseline", "ask", "ask.lua", pid, ask_env, duration, warm_up=ASK_WARM_UP)
        if "token" in scenarios:
            measure("baseline", "token", "token.lua", pid, token_env, TOKEN_SECONDS)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--json", type=Path, default=None, help="write the runs as JSON here")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {', '.join(SCENARIOS)}",
    )
    args = parser.parse_args(argv)
    scenarios = [item.strip() for item in args.scenarios.split(",") if item.strip()]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="http-bench-") as temporary:
        runs = run_benchmarks(duration=args.duration, workdir=Path(temporary), scenarios=scenarios)
    for run in runs:
        print(
            f"{run.target:<17} {run.scenario:<9} c={run.connections:<3} "
            f"{run.requests_per_second:9.1f} req/s  p50 {run.p50_ms:7.2f} ms  "
            f"p99 {run.p99_ms:7.2f} ms  errors {run.errors}  peak RSS {run.peak_rss_mib:.0f} MiB"
        )
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(run) for run in runs], indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
