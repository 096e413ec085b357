"""The HTTP transport of webhook deliveries: it connects only to addresses it has checked.

A check of the URL at subscription time is not enough: the host name can
resolve to an internal address at delivery time, and a check that resolves
the name once and lets the socket resolve it again can be fooled by a second
answer (DNS rebinding). So the check sits in httpcore's network backend, the
one place a connection is made: it resolves the name, checks every address
(``gateway.webhooks.destinations``) and connects to a checked address itself.
TLS still verifies the certificate against the host name (httpcore passes the
URL's host as SNI and server name), and the ``Host`` header is the URL's.

Each connection carries one request (no keep-alive) and a deadline for the
whole exchange: httpx's timeouts bound each read, so a receiver sending one
byte a second could otherwise hold a delivery worker for minutes.

Exceptions a delivery sees, besides httpx's own tree::

    httpx.TransportError
    └── DestinationRefused   the address is not one the gateway may reach; not retried
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable
from ipaddress import ip_address
from typing import Any

import httpcore
import httpx

from gateway.webhooks.destinations import Destinations, IPAddress

# Addresses of one name tried in turn before giving up (a dual-stack host has two).
MAX_ADDRESSES = 3

Resolver = Callable[[str, int], list[IPAddress]]
# httpcore's SOCKET_OPTION, which it does not export.
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class DestinationRefused(httpx.TransportError):
    """The host resolved to an address the gateway may not connect to."""


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses of ``host`` from the system resolver, in its order, without repeats."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    ):
        address = ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


class _DeadlineStream(httpcore.NetworkStream):
    """A stream whose reads and writes all end by one deadline (``time.monotonic``)."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("webhook delivery took longer than its time budget")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, *, destinations: Destinations, resolver: Resolver, budget: float) -> None:
        self._destinations = destinations
        self._resolver = resolver
        self._budget = budget
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = time.monotonic() + self._budget
        try:
            addresses = self._resolver(host, port)
        except (OSError, UnicodeError) as exc:
            # Maybe a passing DNS failure: an ordinary connect error, retried later.
            raise httpcore.ConnectError(f"cannot resolve the host: {type(exc).__name__}") from exc
        if not addresses:
            raise httpcore.ConnectError("the host has no address")
        for address in addresses:
            reason = self._destinations.connection_refusal(host, port, address)
            if reason is not None:
                # One bad address refuses the name: which one a socket would pick is not ours.
                raise DestinationRefused(reason)
        error: Exception = httpcore.ConnectError("no address could be reached")
        for address in addresses[:MAX_ADDRESSES]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout("webhook delivery took longer than its time budget")
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream, deadline)
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise DestinationRefused("webhooks go over TCP only")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections pass the destination rules.

    httpx has no parameter for httpcore's network backend, so the pool that
    ``HTTPTransport`` builds is replaced by one with the guarded backend; the
    transport's request handling and exception mapping stay httpx's own.
    """

    def __init__(
        self,
        *,
        destinations: Destinations,
        timeout_seconds: float,
        max_connections: int,
        resolver: Resolver = system_resolver,
    ) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=0,  # one request per connection: the deadline is its own
            network_backend=_GuardedBackend(
                destinations=destinations, resolver=resolver, budget=timeout_seconds
            ),
        )


def guarded_client(
    *,
    destinations: Destinations,
    timeout_seconds: float,
    max_connections: int,
    resolver: Resolver = system_resolver,
) -> httpx.Client:
    """The client of webhook deliveries: guarded, no redirects, no proxies from the environment."""
    return httpx.Client(
        transport=GuardedTransport(
            destinations=destinations,
            timeout_seconds=timeout_seconds,
            max_connections=max_connections,
            resolver=resolver,
        ),
        timeout=httpx.Timeout(timeout_seconds),
        # A redirect is a second destination chosen by the receiver; it is a failure instead.
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "consent-gateway-webhooks/1"},
    )
