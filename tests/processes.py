"""Real ``gateway serve`` processes for tests that need more than the in-process app.

Several processes against one database (audit concurrency), a process killed
with SIGKILL and started again (crash recovery), a process whose database
connection runs through a proxy the test can cut (outage). The processes share
the test's data directory, so tokens issued in process are valid in them too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from gateway.settings import Settings

GATEWAY = str(Path(sys.executable).with_name("gateway"))
START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gateway_environment(
    settings: Settings, *, database_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a ``gateway`` command working on the test's database and keys."""
    return {
        **os.environ,
        "GATEWAY_ENV": "test",
        "GATEWAY_DATA_DIR": str(settings.data_dir),
        "GATEWAY_DATABASE_URL": database_url or settings.resolved_database_url,
        "GATEWAY_ISSUER": settings.issuer,
        "GATEWAY_AUDIT_CHECKPOINT_EVERY": "7",
        "GATEWAY_LOG_LEVEL": "WARNING",
        **extra,
    }


class GatewayProcess:
    """One ``gateway serve`` on a fixed loopback port; can be killed and started again."""

    def __init__(
        self, env: Mapping[str, str], *, port: int | None = None, log: Path | None = None
    ) -> None:
        self.env = dict(env)
        self.log = log  # stdout and stderr go here (appended across restarts), else nowhere
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        output = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [GATEWAY, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=output,
                stderr=output,
            )
        finally:
            if self.log is not None:
                output.close()  # type: ignore[union-attr]

    def wait_ready(self, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gateway at {self.base} exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway at {self.base} did not start")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, open transactions die with the connection."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def running_gateways(processes: list[GatewayProcess]) -> Iterator[list[str]]:
    """Start the processes, wait until each is ready, yield their base URLs, stop them."""
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready()
        yield [process.base for process in processes]
    finally:
        for process in processes:
            process.stop()


@contextmanager
def gateway_processes(settings: Settings, count: int) -> Iterator[list[str]]:
    """``count`` gateway processes against the test's database."""
    env = gateway_environment(settings)
    with running_gateways([GatewayProcess(env) for _ in range(count)]) as bases:
        yield bases
