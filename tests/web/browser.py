"""A live gateway and headless Chromium for the browser tests.

The gateway runs as its own process (``gateway serve``) on a free loopback
port with the demo data of ``gateway demo``; Playwright drives Debian's
Chromium (``/usr/bin/chromium``; Playwright cannot download browsers here).
Every page a test visits is checked with axe-core (WCAG 2.1 AA rules) and
saved as a screenshot under ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Playwright

REPOSITORY = Path(__file__).resolve().parents[2]
GATEWAY = str(Path(sys.executable).with_name("gateway"))
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPOSITORY / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPOSITORY / "tests" / "artifacts" / "screenshots"
# The flags the machine's Chromium needs: no sandbox as root, and no background
# traffic towards a network that is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveGateway:
    base_url: str
    demo: dict[str, Any]
    data_dir: Path

    def password(self, role: str) -> str:
        password: str = self.demo["users"][role]["web_password"]
        return password

    def email(self, role: str) -> str:
        email: str = self.demo["users"][role]["email"]
        return email


@contextmanager
def live_gateway(data_dir: Path) -> Iterator[LiveGateway]:
    """``gateway demo`` then ``gateway serve`` in a data directory of their own."""
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_ENV": "development",
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_ISSUER": f"http://127.0.0.1:{port}",
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    env.pop("GATEWAY_DATABASE_URL", None)
    seeded = subprocess.run(
        [GATEWAY, "demo", "--json"], env=env, capture_output=True, text=True, check=True
    )
    demo = json.loads(seeded.stdout)
    log = (data_dir / "serve.log").open("w")
    process = subprocess.Popen(
        [GATEWAY, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start: {log.name}")
            time.sleep(0.2)
        yield LiveGateway(base_url=base_url, demo=demo, data_dir=data_dir)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class PageChecks:
    """Accessibility check and screenshot of every page a story visits."""

    def __init__(self, directory: Path = ARTIFACTS) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.violations: list[str] = []
        self.visited: list[str] = []

    def check(self, page: Page, name: str) -> None:
        self.count += 1
        page.wait_for_load_state("load")
        page.screenshot(path=self.directory / f"{self.count:02d}-{slug(name)}.png", full_page=True)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
        )
        for violation in result["violations"]:
            if violation["impact"] in BLOCKING_IMPACTS:
                targets = [node["target"] for node in violation["nodes"]][:3]
                self.violations.append(f"{name}: {violation['id']} {targets}")
        self.visited.append(name)
