"""Migration 0005 on SQLite and PostgreSQL: down to 0004 and up again, with consents in every
ending; the reasons are filled in from what the old rows say."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gateway.bootstrap import Container
from gateway.migrate import alembic_config
from tests.support import Desk


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _rows(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, status_reason_code FROM consents"))
        return {row[0]: (row[1], row[2]) for row in rows}


def test_down_and_up_again(desk: Desk, container: Container) -> None:
    granted = desk.consent()["id"]
    pending = desk.consent(evidence={"channel": "own_phone"})["id"]
    by_jobcenter = desk.consent()["id"]
    desk.client.post(
        f"/v1/consents/{by_jobcenter}/revoke", json={"channel": "case_system"}, headers=desk.staff
    )
    by_municipality = desk.consent()["id"]
    desk.client.post(
        f"/v1/consents/{by_municipality}/revoke",
        json={"channel": "case_system"},
        headers=desk.manager,
    )
    by_person = desk.consent()["id"]
    code = desk.client.get(f"/v1/consents/{by_person}/receipt", headers=desk.manager).json()[
        "self_service_code"
    ]
    desk.client.post(f"/v1/self-service/{code}/revoke")
    paused = desk.consent()["id"]
    desk.client.post(f"/v1/consents/{paused}/pause", json={"reason": "x"}, headers=desk.manager)
    engine = container.engine
    engine.dispose()

    _migrate(engine, "downgrade", "0004")
    with engine.connect() as connection:
        old = dict(connection.execute(text("SELECT id, status FROM consents")).all())
    assert old[by_person] == "revoked"
    assert old[paused] == "active"

    _migrate(engine, "upgrade", "head")
    assert _rows(engine) == {
        granted: ("active", "granted"),
        pending: ("pending", "awaiting_confirmation"),
        by_jobcenter: ("revoked", "revoked_by_jobcenter"),
        by_municipality: ("revoked", "revoked_by_municipality"),
        by_person: ("withdrawn", "withdrawn_by_person"),
        paused: ("active", "granted"),
    }
    with engine.connect() as connection:
        missing = connection.execute(
            text("SELECT count(*) FROM consents WHERE status_changed_at IS NULL")
        ).scalar_one()
    assert missing == 0
