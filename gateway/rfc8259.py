"""How deep JSON may nest: the limit RFC 8259 lets an implementation set.

https://www.rfc-editor.org/rfc/rfc8259#section-9 — "An implementation may
set limits on the maximum depth of nesting." The gateway does, for every JSON
request body and for the JSON values it validates: a body nested hundreds of
levels deep is parsed by the standard library, but any recursive walk over it
afterwards (validation, canonicalisation, hashing) would exhaust the stack, a
500 instead of a 400. No document of the API comes near the limit.

``NestingScanner`` follows the depth of a JSON text chunk by chunk as it
arrives, without parsing it; ``nesting_depth`` measures a parsed value without
recursion.
"""

from __future__ import annotations

import re
from typing import Any

# Parameters and answers nest two or three levels inside a body; 32 leaves ample room.
MAX_DEPTH = 32

# Outside strings only brackets count; inside, a quote ends the string and a backslash
# escapes the next byte (which may be a quote). UTF-8 continuation bytes never match.
_SIGNIFICANT = re.compile(rb'["\\\[\]{}]')
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_OPENING = frozenset(b"[{")
_CLOSING = frozenset(b"]}")


class NestingScanner:
    """The nesting depth of a JSON text fed in chunks, and whether it passed ``limit``.

    Malformed JSON is not detected here (the parser refuses it); at worst it is
    refused as too deep.
    """

    def __init__(self, limit: int = MAX_DEPTH) -> None:
        self.limit = limit
        self.depth = 0
        self.exceeded = False
        self._in_string = False
        self._escaped = False  # a backslash ended the previous chunk inside a string

    def feed(self, chunk: bytes) -> bool:
        """Follow ``chunk``; False once the text has nested deeper than the limit."""
        if self.exceeded:
            return False
        position = 0
        if self._escaped and chunk:
            self._escaped = False
            position = 1
        while (match := _SIGNIFICANT.search(chunk, position)) is not None:
            byte = chunk[match.start()]
            position = match.end()
            if self._in_string:
                if byte == _BACKSLASH:
                    if position < len(chunk):
                        position += 1
                    else:
                        self._escaped = True
                elif byte == _QUOTE:
                    self._in_string = False
            elif byte == _QUOTE:
                self._in_string = True
            elif byte in _OPENING:
                self.depth += 1
                if self.depth > self.limit:
                    self.exceeded = True
                    return False
            elif byte in _CLOSING:
                self.depth -= 1
        return True


def nesting_depth(value: Any, *, stop_after: int = MAX_DEPTH) -> int:
    """How many objects and arrays are nested in ``value`` (0 for a scalar), without
    recursion; counting stops past ``stop_after``, so a hostile value costs no more."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest
