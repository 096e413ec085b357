"""Registering organisations and users (operator tasks, audited)."""

from __future__ import annotations

import re

from sqlmodel import Session

from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.ids import new_id
from gateway.organisations import repository
from gateway.organisations.models import Organisation, OrganisationKind, Role, User

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_KEY = re.compile(r"^[A-Za-z0-9-]{2,40}$")


def _clean_text(value: str, *, field: str, max_length: int = 200) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > max_length:
        raise BadRequest(f"{field} must be 1 to {max_length} characters.", slug="invalid-field")
    if any(ord(char) < 32 for char in cleaned):
        raise BadRequest(f"{field} contains control characters.", slug="invalid-field")
    return cleaned


def add_organisation(
    session: Session,
    *,
    audit: AuditTrail,
    kind: OrganisationKind,
    name: str,
    official_key: str | None = None,
    parent_id: str | None = None,
) -> Organisation:
    if official_key is not None:
        if not _KEY.match(official_key):
            raise BadRequest(
                "The official key may hold letters, digits and '-' only.", slug="invalid-field"
            )
        if repository.find_organisation_by_key(session, official_key) is not None:
            raise Conflict(f"An organisation with key {official_key} exists.", slug="duplicate-key")
    if parent_id is not None and repository.get_organisation(session, parent_id) is None:
        raise NotFound(f"Parent organisation {parent_id} does not exist.")
    organisation = Organisation(
        id=new_id("org"),
        kind=kind,
        name=_clean_text(name, field="name"),
        official_key=official_key,
        parent_id=parent_id,
    )
    repository.add(session, organisation)
    audit.record(
        session,
        AuditEvent(
            type="organisation.added",
            actor=Actor(kind="operator", via="cli"),
            details={"organisation": organisation.id, "kind": kind.value},
        ),
    )
    return organisation


def add_user(
    session: Session,
    *,
    audit: AuditTrail,
    organisation_id: str,
    role: Role,
    name: str,
    email: str,
) -> User:
    organisation = repository.get_organisation(session, organisation_id)
    if organisation is None:
        raise NotFound(f"Organisation {organisation_id} does not exist.")
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise BadRequest("The e-mail address is not valid.", slug="invalid-field")
    if repository.find_user_by_email(session, email) is not None:
        raise Conflict("A user with this e-mail address exists.", slug="duplicate-user")
    if role is Role.JOBCENTER_STAFF and organisation.kind is not OrganisationKind.JOBCENTER:
        raise BadRequest("Jobcenter staff belong to a jobcenter.", slug="role-mismatch")
    if role is Role.INTEGRATION_MANAGER and organisation.kind not in {
        OrganisationKind.MUNICIPALITY,
        OrganisationKind.DISTRICT,
    }:
        raise BadRequest(
            "Integration managers belong to a municipality or district office.",
            slug="role-mismatch",
        )
    user = User(
        id=new_id("usr"),
        organisation_id=organisation.id,
        role=role,
        name=_clean_text(name, field="name"),
        email=email,
    )
    repository.add(session, user)
    audit.record(
        session,
        AuditEvent(
            type="user.added",
            actor=Actor(kind="operator", via="cli"),
            details={"organisation": organisation.id, "user": user.id, "role": role.value},
        ),
    )
    return user
