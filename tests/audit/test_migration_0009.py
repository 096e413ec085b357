"""Migration 0009 on SQLite and PostgreSQL: the roots of an existing trail are computed from
its leaf hashes, the same as the sequencer writes them."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.audit.verify import verify_trail
from gateway.bootstrap import Container
from gateway.keys import KeyPurpose
from gateway.migrate import alembic_config
from tests.audit.test_audit_subtrees import grow


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _roots(engine: Engine) -> dict[tuple[int, int], str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT level, idx, hash FROM audit_subtrees"))
        return {(level, idx): value for level, idx, value in rows}


def test_down_and_up_again_stores_the_same_roots(container: Container) -> None:
    grow(container, 150)
    engine = container.engine
    written = _roots(engine)
    assert (7, 0) in written  # 128 events
    engine.dispose()
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    before = ScriptDirectory.from_config(config).get_revision("0009").down_revision
    assert isinstance(before, str)

    _migrate(engine, "downgrade", before)
    assert "audit_subtrees" not in inspect(engine).get_table_names()

    _migrate(engine, "upgrade", "head")
    assert _roots(engine) == written
    with Session(engine) as session:
        assert verify_trail(session, keys=container.keys.verification_keys(KeyPurpose.AUDIT)).ok
