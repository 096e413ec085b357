"""All SQL for subjects."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import Session, col, select

from gateway.subjects.models import Subject


def get(session: Session, subject_id: str) -> Subject | None:
    return session.get(Subject, subject_id)


def find_by_index(session: Session, identity_index: str) -> Subject | None:
    return session.exec(select(Subject).where(Subject.identity_index == identity_index)).first()


def add(session: Session, subject: Subject) -> None:
    session.add(subject)
    session.flush()


def iterate(session: Session, *, batch: int = 500) -> Iterator[Subject]:
    last = ""
    while True:
        rows = session.exec(
            select(Subject).where(col(Subject.id) > last).order_by(col(Subject.id)).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id
