"""Identifiers: random, prefixed by kind so a reader of a log or a URL knows what they are."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
