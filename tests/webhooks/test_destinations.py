"""The destination rules of webhooks, without I/O: addresses, URLs, the allow-list setting."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from gateway.settings import Settings
from gateway.webhooks.destinations import Destinations, address_refusal, parse_host_port


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1", None),
        ("64:ff9b::808:808", None),  # NAT64 of a public address
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),  # noqa: S104  # an address under test, nothing binds
        ("::", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.31.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fd12::1", "private"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),  # reserved, and private to Python too
        ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),  # documentation
        ("198.18.0.1", "private"),  # benchmarking
        ("192.0.0.8", "special-purpose"),
        ("192.88.99.1", "special-purpose"),
        ("::ffff:8.8.8.8", "IPv4-mapped"),
        ("::ffff:127.0.0.1", "IPv4-mapped"),
        ("64:ff9b::7f00:1", "loopback (embedded in IPv6)"),
        ("2002:a9fe:a9fe::1", "link-local (embedded in IPv6)"),  # 6to4
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo tunnel"),
        ("fec0::1", "site-local"),
    ],
)
def test_addresses(address: str, reason: str | None) -> None:
    assert address_refusal(ip_address(address)) == reason


def test_allow_list_entries() -> None:
    assert parse_host_port("127.0.0.1") == ("127.0.0.1", None)
    assert parse_host_port(" Receiver.Internal.:8443 ") == ("receiver.internal", 8443)
    assert parse_host_port("[::1]:9000") == ("::1", 9000)
    assert parse_host_port("[::1]") == ("::1", None)
    for wrong in ("::1", "host:0", "host:http", "[::1]x", ":80"):
        with pytest.raises(ValueError, match=r"."):
            parse_host_port(wrong)


def test_public_urls_pass() -> None:
    rules = Destinations()
    for url in (
        "https://case-system.example/hooks?x=1",
        "https://CASE-SYSTEM.example.:8443/hooks",
        "https://bücher.example/hooks",
        "https://8.8.8.8/hooks",
        "https://[2606:4700::1]/hooks",
    ):
        assert rules.url_refusal(url) is None, url


def test_listed_internal_hosts() -> None:
    rules = Destinations(
        internal=frozenset({("receiver.internal", 8443), ("127.0.0.1", None)}), allow_http=True
    )
    assert rules.url_refusal("https://receiver.internal:8443/hooks") is None
    # On another port it is any name: judged by its addresses when a delivery connects.
    assert rules.is_internal("receiver.internal", 8443)
    assert not rules.is_internal("receiver.internal", 443)
    assert rules.url_refusal("http://127.0.0.1:5000/hooks") is None
    assert rules.url_refusal("http://127.0.0.2:5000/hooks") == "it must be an https:// URL"
    # A listed host still carries no credentials, and http needs development.
    assert rules.url_refusal("https://u:p@receiver.internal:8443/") == (
        "it must not contain credentials"
    )
    production = Destinations(internal=frozenset({("127.0.0.1", None)}), allow_http=False)
    assert production.url_refusal("http://127.0.0.1:5000/hooks") == "it must be an https:// URL"
    assert production.url_refusal("https://127.0.0.1:5000/hooks") is None


def test_connection_rules() -> None:
    rules = Destinations(internal=frozenset({("receiver.internal", None)}), own=frozenset())
    loopback = ip_address("127.0.0.1")
    assert rules.connection_refusal("receiver.internal", 443, loopback) is None
    assert rules.connection_refusal("hooks.example", 443, loopback) == (
        "hooks.example resolves to 127.0.0.1, a loopback address"
    )
    assert rules.connection_refusal("hooks.example", 443, ip_address("8.8.8.8")) is None


def test_the_allow_list_setting_reads_commas_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOWED_INTERNAL_HOSTS", "127.0.0.1:9000, [::1]")
    assert Settings().webhook_allowed_internal_hosts == ["127.0.0.1:9000", "[::1]"]
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOWED_INTERNAL_HOSTS", '["receiver.internal"]')
    assert Settings().webhook_allowed_internal_hosts == ["receiver.internal"]
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOWED_INTERNAL_HOSTS", "http://x/")
    with pytest.raises(ValueError, match="host"):
        Settings()
