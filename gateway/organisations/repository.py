"""All SQL for organisations and users."""

from __future__ import annotations

from sqlmodel import Session, col, select

from gateway.organisations.models import Organisation, User


def get_organisation(session: Session, organisation_id: str) -> Organisation | None:
    return session.get(Organisation, organisation_id)


def find_organisation_by_key(session: Session, official_key: str) -> Organisation | None:
    return session.exec(
        select(Organisation).where(Organisation.official_key == official_key)
    ).first()


def find_organisation_by_name(session: Session, name: str) -> Organisation | None:
    return session.exec(select(Organisation).where(Organisation.name == name)).first()


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.exec(select(Organisation).order_by(col(Organisation.created_at))).all())


def add(session: Session, item: Organisation | User) -> None:
    session.add(item)
    session.flush()


def get_user(session: Session, user_id: str) -> User | None:
    return session.get(User, user_id)


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email)).first()


def list_users(session: Session, organisation_id: str | None = None) -> list[User]:
    query = select(User).order_by(col(User.created_at))
    if organisation_id is not None:
        query = query.where(User.organisation_id == organisation_id)
    return list(session.exec(query).all())


def children_of(session: Session, organisation_id: str) -> list[Organisation]:
    """The organisations below one (a district office's municipalities)."""
    return list(
        session.exec(
            select(Organisation)
            .where(Organisation.parent_id == organisation_id)
            .order_by(col(Organisation.created_at))
        ).all()
    )
