"""visible_page: full pages of visible rows, and cursors that tell nothing of hidden ones."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.organisations import service as organisations
from gateway.organisations.models import Role
from gateway.pagination import visible_page
from tests.support import Desk, World

ROWS = [f"r{n:02d}" for n in range(20)]


def _fetch(after: str | None, size: int) -> Sequence[str]:
    return [row for row in ROWS if after is None or row > after][:size]


def _pages(visible: set[str], limit: int) -> list[tuple[list[str], str | None]]:
    pages: list[tuple[list[str], str | None]] = []
    cursor: str | None = None
    while True:
        page, cursor = visible_page(
            _fetch, lambda row: row in visible, lambda row: row, after=cursor, limit=limit
        )
        pages.append((page, cursor))
        if cursor is None:
            return pages


@pytest.mark.parametrize("limit", [1, 3, 7, 50])
@pytest.mark.parametrize(
    "visible",
    [set(ROWS), set(ROWS[::3]), {ROWS[0], ROWS[19]}, {ROWS[19]}, set()],
    ids=["all", "every-third", "ends", "last", "none"],
)
def test_pages_hold_only_visible_rows_and_cursors_name_only_returned_ones(
    visible: set[str], limit: int
) -> None:
    pages = _pages(visible, limit)
    returned = [row for page, _ in pages for row in page]
    assert returned == sorted(visible)
    for page, cursor in pages:
        if cursor is not None:
            assert len(page) == limit  # no short page before the end
            assert cursor == page[-1]  # the cursor is a row the caller saw
    # The last page ends the listing; a page is empty only when nothing is visible at all.
    assert pages[-1][1] is None
    if visible:
        assert all(page for page, _ in pages)
    else:
        assert pages == [([], None)]


def test_a_colleague_not_named_in_the_consent_learns_nothing_from_the_query_list(
    client: TestClient, container: Container, world: World
) -> None:
    desk = Desk(client, world)
    desk.consent(named_users=[world.manager])
    for _ in range(3):
        assert desk.ask("benefit_status", "benefit_coordination").status_code == 201
    with unit_of_work(container.engine) as session:
        colleague = organisations.add_user(
            session,
            audit=container.audit,
            organisation_id=world.municipality,
            role=Role.INTEGRATION_MANAGER,
            name="Test User",
            email="im2@brackenheim.example",
        ).id
    headers = world.case_system.bearer(client, user_id=colleague)

    listed = client.get("/v1/queries", params={"limit": 1}, headers=headers).json()
    assert listed == {"items": [], "next": None}

    mine = client.get("/v1/queries", params={"limit": 2}, headers=desk.manager).json()
    assert len(mine["items"]) == 2
    assert mine["next"] == mine["items"][-1]["id"]
    rest = client.get(
        "/v1/queries", params={"limit": 2, "cursor": mine["next"]}, headers=desk.manager
    ).json()
    assert len(rest["items"]) == 1
    assert rest["next"] is None
