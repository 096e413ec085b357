"""Helpers for tests that need real TLS on loopback: development certificates and a server."""

from __future__ import annotations

import importlib.util
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "certs-dev" / "generate.py"
TIMEOUT = 5.0


def load_certs_generator() -> ModuleType:
    # certs-dev is not a package name, so the script is loaded from its file.
    name = "certs_dev_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@contextmanager
def serve_tls(app: FastAPI, certs: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port, requiring client certificates of ``certs``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(certs.server_cert),
        ssl_keyfile=str(certs.server_key),
        ssl_ca_certs=str(certs.ca_cert),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        log_level="critical",
        log_config=None,
        lifespan="on",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=1,  # a forgotten keep-alive connection must not stall the run
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()
