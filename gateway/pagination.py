"""Pages of rows that leak nothing about the rows a caller may not see.

The database narrows a listing by organisation; the policy then has the last
word on each row (a consent naming users, say). Cutting a page from the
database rows and filtering it afterwards would tell of the hidden rows: a
page shorter than asked for although a cursor follows, or a cursor that is
the id of a row the caller may not see. ``visible_page`` reads on until the
page is full of visible rows or the rows run out, and its cursor is always the
last row it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

Row = TypeVar("Row")
FETCH = 100


def visible_page(
    fetch: Callable[[str | None, int], Sequence[Row]],
    visible: Callable[[Row], bool],
    key: Callable[[Row], str],
    *,
    after: str | None,
    limit: int,
) -> tuple[list[Row], str | None]:
    """At most ``limit`` visible rows after the cursor ``after``, and the cursor of the
    next page (None when no visible row follows).

    ``fetch(after, n)`` returns up to ``n`` rows after ``after`` in cursor order.
    """
    page: list[Row] = []
    cursor = after
    # Read in rounds of at least FETCH rows: a caller who sees few rows costs few round trips.
    size = max(limit + 1, FETCH)
    while True:
        batch = fetch(cursor, size)
        for row in batch:
            if not visible(row):
                continue
            if len(page) == limit:
                return page, key(page[-1])
            page.append(row)
        if len(batch) < size:
            return page, None
        cursor = key(batch[-1])
