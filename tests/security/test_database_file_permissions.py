"""Finding 14 of issue 15: ``gateway.db`` and its WAL were world-readable (0644).

Any local account could copy every person's name, birth date and customer
number from the SQLite file. Now the gateway creates it 0600 (SQLite gives
``-wal`` and ``-shm`` the same mode), closes the data directory (0700), and
closes what an older version left open. PostgreSQL keeps no file of ours.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.bootstrap import build
from gateway.database import create_db_engine
from gateway.settings import Settings

DATABASE_FILES = ("gateway.db", "gateway.db-wal", "gateway.db-shm")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems start services with: files 0644, directories 0755."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def written(url: str) -> Iterator[None]:
    """Write through a connection and keep it open: the WAL files exist meanwhile."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            connection.execute(text("INSERT INTO probe VALUES (1)"))
        yield
    finally:
        engine.dispose()


def test_a_new_gateway_keeps_its_database_to_itself(tmp_path: Path) -> None:
    data = tmp_path / "var"
    settings = Settings(env="test", data_dir=data, issuer="http://testserver")
    container = build(settings)
    try:
        with container.engine.begin() as connection:
            connection.execute(text("CREATE TABLE probe (x INTEGER)"))
            connection.execute(text("INSERT INTO probe VALUES (1)"))
        for name in DATABASE_FILES:
            assert _mode(data / name) == 0o600, name
        assert _mode(data) == 0o700
        assert _mode(data / "keys") == 0o700
    finally:
        container.close()


def test_files_an_older_version_left_readable_are_closed(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir(mode=0o755)
    for name in DATABASE_FILES:  # empty files: a new database to SQLite
        (data / name).touch(mode=0o644)
    with written(f"sqlite:///{data / 'gateway.db'}"):
        for name in DATABASE_FILES:
            assert _mode(data / name) == 0o600, name
    assert _mode(data) == 0o700


def test_a_shared_directory_stays_shared(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: everyone's, so not ours to close
    with written(f"sqlite:///{shared / 'gateway.db'}"):
        for name in DATABASE_FILES:
            assert _mode(shared / name) == 0o600, name
    assert _mode(shared) == 0o1777
