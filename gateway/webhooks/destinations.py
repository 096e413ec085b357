"""Where a webhook may go: public addresses only, unless the operator lists an internal host.

A webhook URL is chosen by an organisation, and the gateway sends to it from
inside the operator's network: without these rules it is a server-side request
forgery tool (OWASP SSRF prevention cheat sheet,
https://cheatsheetseries.owasp.org/cheatsheets/Server_Side_Request_Forgery_Prevention_Cheat_Sheet.html).
The rules are applied twice: to the URL when an organisation subscribes (scheme,
credentials, a literal address, a host name that can only be internal), and to
every address the host name resolves to right before a delivery connects
(``gateway.webhooks.transport``), since a name can point anywhere by then.

Special-purpose addresses follow the IANA registries (RFC 6890) as Python's
``ipaddress`` knows them, plus the blocks it calls global that no webhook
receiver can be: multicast, 192.0.0.0/24, the 6to4 relay anycast, and IPv4
addresses embedded in IPv6 (IPv4-mapped, 6to4, the NAT64 well-known prefix).
This module does no I/O.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import httpx

from gateway.settings import Settings

IPAddress = IPv4Address | IPv6Address
DEFAULT_PORTS = {"https": 443, "http": 80}
_SHARED = IPv4Network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT; not "private" to Python
# Called global by Python 3.11, yet no receiver lives there: IETF protocol assignments
# (RFC 6890 2.2.2) and the deprecated 6to4 relay anycast (RFC 7526).
_NOT_RECEIVERS = (IPv4Network("192.0.0.0/24"), IPv4Network("192.88.99.0/24"))
_NAT64 = IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def address_refusal(address: IPAddress) -> str | None:
    """Why the gateway may not connect to ``address``, or None for a public unicast address."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            # The socket would reach the IPv4 address; a public name never resolves so.
            return "IPv4-mapped"
        if address in _NAT64:
            # The translator reaches the embedded IPv4 address: that one is judged.
            reason = address_refusal(IPv4Address(int(address) & 0xFFFFFFFF))
            return f"{reason} (embedded in IPv6)" if reason else None
        if address.sixtofour is not None and (reason := address_refusal(address.sixtofour)):
            return f"{reason} (embedded in IPv6)"
        if address.teredo is not None:
            return "Teredo tunnel"
        if address.is_site_local:
            return "site-local"
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, IPv4Address) and address in _SHARED, "shared (CGNAT)"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "special-purpose"),
        (any(address in network for network in _NOT_RECEIVERS), "special-purpose"),
    )
    return next((reason for refused, reason in checks if refused), None)


def parse_host_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` of the allow-list, normalised."""
    text = entry.strip()
    port: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"not host[:port]: {entry!r}")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        raise ValueError(f"write an IPv6 address in brackets: {entry!r}")
    else:
        host = text
    if not host:
        raise ValueError(f"no host in {entry!r}")
    if port is None:
        return normalise_host(host), None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a port: {entry!r}")
    return normalise_host(host), int(port)


def normalise_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ip_address(host)
    except ValueError:
        pass
    try:
        # "127.1", "2130706433", "0x7f.0.0.1": forms the resolver reads as IPv4.
        packed = socket.inet_aton(host)
    except OSError:
        return None
    return IPv4Address(packed)


@dataclass(frozen=True)
class Destinations:
    """The rules for one gateway: which internal hosts it may reach, and itself, which never.

    ``internal`` holds (host, port) pairs from ``GATEWAY_WEBHOOK_ALLOWED_INTERNAL_HOSTS``
    (port None: any port); ``own`` the gateway's own listeners, refused even when
    listed; ``allow_http`` lets plain http reach a listed internal host (not in production).
    """

    internal: frozenset[tuple[str, int | None]] = frozenset()
    own: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    allow_http: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Destinations:
        own: set[tuple[str, int]] = set()
        issuer = httpx.URL(settings.issuer)
        own.add((normalise_host(issuer.host), issuer.port or DEFAULT_PORTS.get(issuer.scheme, 443)))
        listen = normalise_host(settings.host)
        own.add((listen, settings.port))
        literal = _literal_address(listen)
        if literal is not None and (literal.is_loopback or literal.is_unspecified):
            own.update((name, settings.port) for name in _LOOPBACK_NAMES)
        return cls(
            internal=frozenset(
                parse_host_port(entry) for entry in settings.webhook_allowed_internal_hosts
            ),
            own=frozenset(own),
            allow_http=not settings.is_production,
        )

    def is_internal(self, host: str, port: int) -> bool:
        host = normalise_host(host)
        return (host, None) in self.internal or (host, port) in self.internal

    def is_own(self, host: str, port: int) -> bool:
        return (normalise_host(host), port) in self.own

    def url_refusal(self, url: str) -> str | None:
        """Why ``url`` may not be a webhook target, judged without resolving its host."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            return "it is not a valid URL"
        scheme = parsed.scheme
        if scheme not in DEFAULT_PORTS:
            return "it must be an https:// URL"
        if parsed.userinfo:
            # They would travel in every request and show up wherever the URL is shown.
            return "it must not contain credentials"
        host = normalise_host(parsed.raw_host.decode("ascii"))
        if not host:
            return "it has no host"
        port = parsed.port or DEFAULT_PORTS[scheme]
        if self.is_own(host, port):
            return "it points at the gateway itself"
        internal = self.is_internal(host, port)
        if scheme == "http" and not (internal and self.allow_http):
            return "it must be an https:// URL"
        if internal:
            return None
        literal = _literal_address(host)
        if literal is not None:
            reason = address_refusal(literal)
            if reason is not None:
                return f"{host} is a {reason} address"
            if isinstance(literal, IPv4Address) and str(literal) != host:
                return "write an IPv4 address in dotted-decimal form"
            return None
        if host == "localhost" or host.endswith(".localhost"):
            return "it names the local host"
        if "." not in host:
            # A single label is completed by the resolver's search list: an internal name.
            return "it must name a fully qualified host"
        return None

    def connection_refusal(self, host: str, port: int, address: IPAddress) -> str | None:
        """Why a delivery to ``host:port`` may not connect to ``address``, resolved just now."""
        if self.is_own(host, port) or self.is_own(str(address), port):
            return "it points at the gateway itself"
        if self.is_internal(host, port):
            return None
        reason = address_refusal(address)
        return f"{host} resolves to {address}, a {reason} address" if reason else None
