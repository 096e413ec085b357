"""The guarded transport: it connects to the address it checked, and only within its budget."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from ipaddress import ip_address

import httpx
import pytest

from gateway.webhooks.destinations import Destinations, IPAddress
from gateway.webhooks.transport import DestinationRefused, guarded_client
from tests.webhooks.receivers import Receiver, running_receiver

LOOPBACK = ip_address("127.0.0.1")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as server:
        yield server


class Resolver:
    """Answers from a table and counts the questions."""

    def __init__(self, table: dict[str, list[IPAddress]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return self.table[host]


def _client(
    resolver: Resolver, *, internal: set[tuple[str, int | None]], budget: float = 2.0
) -> httpx.Client:
    return guarded_client(
        destinations=Destinations(internal=frozenset(internal), allow_http=True),
        timeout_seconds=budget,
        max_connections=2,
        resolver=resolver,
    )


def test_connects_to_the_checked_address_with_the_name_as_host(receiver: Receiver) -> None:
    resolver = Resolver({"receiver.test": [LOOPBACK]})
    with _client(resolver, internal={("receiver.test", receiver.port)}) as client:
        response = client.post(f"http://receiver.test:{receiver.port}/hooks", content=b"{}")
    assert response.status_code == 204
    assert resolver.asked == ["receiver.test"]  # one lookup: the one that was checked
    assert receiver.requests[0].headers["host"] == f"receiver.test:{receiver.port}"


def test_one_internal_address_refuses_the_name(receiver: Receiver) -> None:
    resolver = Resolver({"hooks.example": [ip_address("93.184.215.14"), LOOPBACK]})
    with (
        _client(resolver, internal=set()) as client,
        pytest.raises(DestinationRefused, match=r"127\.0\.0\.1, a loopback address"),
    ):
        client.post(f"http://hooks.example:{receiver.port}/hooks", content=b"{}")
    assert receiver.requests == []


def test_an_unknown_name_is_an_ordinary_connect_error() -> None:
    with _client(Resolver({}), internal=set()) as client, pytest.raises(httpx.ConnectError):
        client.post("https://nowhere.example/hooks", content=b"{}")


def test_a_receiver_that_answers_byte_by_byte_is_cut_at_the_budget() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def dribble() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.05):  # every read gets a byte well within its timeout
                try:
                    connection.sendall(b"X")
                except OSError:
                    return

    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    resolver = Resolver({"slow.test": [LOOPBACK]})
    started = time.monotonic()
    try:
        with (
            _client(resolver, internal={("slow.test", None)}, budget=0.5) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.post(f"http://slow.test:{port}/hooks", content=b"{}")
        assert time.monotonic() - started < 1.5
    finally:
        stop.set()
        thread.join()
        listener.close()
