"""RFC 8785 JSON Canonicalization Scheme, as used for audit events and signed payloads.

https://www.rfc-editor.org/rfc/rfc8785 — the ``rfc8785`` package implements
the scheme; this module gives the gateway one name for it and a payload hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785 as _jcs


def canonical_bytes(value: Any) -> bytes:
    result: bytes = _jcs.dumps(value)
    return result


def payload_hash(value: Any) -> str:
    """``sha256:<hex>`` of the canonical form: how the trail refers to a payload it never holds."""
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()
