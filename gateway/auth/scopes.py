"""OAuth scopes of the gateway's API."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    CONSENTS_READ = "consents:read"
    CONSENTS_WRITE = "consents:write"
    QUERIES_ASK = "queries:ask"
    QUERIES_ANSWER = "queries:answer"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"


def parse_scopes(value: str) -> frozenset[Scope]:
    """Parse a space-delimited scope string (RFC 6749 section 3.3); unknown scopes raise."""
    return frozenset(Scope(item) for item in value.split())


def format_scopes(scopes: frozenset[Scope] | set[Scope]) -> str:
    return " ".join(sorted(scope.value for scope in scopes))
