"""Disabling a client or deactivating a user revokes what was issued to them, for good.

The token check (``repository.token_standing``) refuses a token whose client
is disabled or whose user is inactive. On its own that let the token work
again when they were enabled within its lifetime (issue 15, finding 15). So
the moment of disabling is recorded as a ``RevokedBefore`` row: tokens issued
before it stay revoked (the API refuses them, introspection per RFC 7662
section 2.2 answers ``active: false``), and so do the user's web sessions
opened before it (``gateway.web.sessions``).

The row is written whenever the ORM writes ``OAuthClient.enabled = False`` or
``User.active = False``, in the same flush and so in the same transaction as
the change (``install``, called by the authorization server, listens to every
session): ``gateway clients disable``, the services, a future admin page
and the tests alike, with no call anyone could forget. A hand-written SQL
``UPDATE`` passes the ORM by and records nothing; operators use the CLI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from gateway.auth import repository
from gateway.auth.models import CLIENT_HOLDER, USER_HOLDER, OAuthClient
from gateway.clock import utcnow
from gateway.organisations.models import User


def _switched_off(instance: object, attribute: str) -> bool:
    # Setting the value it already had is no change in the history, and records nothing.
    history = inspect(instance).attrs[attribute].history
    return False in (history.added or ())


def _disabled(instance: object) -> tuple[str, str] | None:
    """The holder a change in this flush disables, if any."""
    if isinstance(instance, OAuthClient) and _switched_off(instance, "enabled"):
        return CLIENT_HOLDER, instance.id
    if isinstance(instance, User) and _switched_off(instance, "active"):
        return USER_HOLDER, instance.id
    return None


def _record_disabling(session: Session, _context: Any, _instances: Any) -> None:
    moment: datetime | None = None
    for instance in list(session.dirty):
        disabled = _disabled(instance)
        if disabled is None:
            continue
        moment = moment or utcnow()
        holder, holder_id = disabled
        with session.no_autoflush:
            repository.revoke_before(session, holder=holder, holder_id=holder_id, moment=moment)


def install() -> None:
    """Record disabling in every session of the process (idempotent).

    Listening on the ``Session`` class covers the request sessions, the CLI's
    units of work and the scheduler's sessions, whichever engine they use.
    """
    if not event.contains(Session, "before_flush", _record_disabling):
        event.listen(Session, "before_flush", _record_disabling)
