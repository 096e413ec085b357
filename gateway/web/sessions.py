"""Web sessions: opaque cookies, hashed ids, CSRF synchronizer tokens, and the acting principal.

Cookies follow RFC 6265bis: ``HttpOnly``, ``SameSite=Lax``, and over https
``Secure`` with the ``__Host-`` prefix (no ``Domain``, ``Path=/``), so no
other host can plant or read them. The session id is 256 random bits; the
database keeps its SHA-256 only. Every form of a signed-in user carries the
session's synchronizer token (OWASP CSRF Prevention Cheat Sheet); forms
without a session (sign-in, the person's pages) use a double-submit token in
a cookie of its own.

A session opened before its user was last deactivated stays ended when the
user is active again (``gateway.auth.revocation``), as their tokens do.

A session acts as a ``Principal`` with the scopes of the user's role
(``ROLE_SCOPES``), so every page goes through the same service checks and
policy decisions as an API call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.auth import repository as auth_repository
from gateway.auth.models import USER_HOLDER
from gateway.auth.principal import Principal
from gateway.auth.service import ROLE_SCOPES
from gateway.clock import as_utc, utcnow
from gateway.organisations import repository as organisations
from gateway.organisations.models import Organisation, User
from gateway.web import repository
from gateway.web.accounts import WEB_CLIENT_ID
from gateway.web.models import WebSession

SESSION_COOKIE = "gw_session"
CSRF_COOKIE = "gw_csrf"
LANGUAGE_COOKIE = "gw_lang"
CSRF_FIELD = "csrf_token"
# Writing last_seen on every request would make every page view a write.
TOUCH_EVERY = timedelta(minutes=1)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


@dataclass(frozen=True)
class CookiePolicy:
    """Cookie names and attributes, derived from whether the issuer is https."""

    secure: bool

    @classmethod
    def for_issuer(cls, issuer: str) -> CookiePolicy:
        return cls(secure=issuer.startswith("https://"))

    def name(self, base: str) -> str:
        return f"__Host-{base}" if self.secure else base


@dataclass(frozen=True)
class ActiveSession:
    id_hash: str
    user: User
    organisation: Organisation
    csrf_token: str
    expires_at: datetime

    def principal(self) -> Principal:
        return Principal(
            client_id=WEB_CLIENT_ID,
            organisation_id=self.organisation.id,
            user_id=self.user.id,
            role=self.user.role,
            scopes=ROLE_SCOPES[self.user.role],
            token_id=f"web-{self.id_hash[:16]}",
            expires_at=self.expires_at,
        )


class WebSessions:
    def __init__(self, *, lifetime: timedelta, idle: timedelta) -> None:
        self.lifetime = lifetime
        self.idle = idle

    def start(self, session: Session, *, user: User) -> str:
        """A new session (a new id at every sign-in: no fixation); returns the cookie value."""
        now = utcnow()
        repository.purge_sessions(session, idle_before=now - self.idle, now=now)
        value = new_token()
        repository.add_session(
            session,
            WebSession(
                id_hash=_hash(value),
                user_id=user.id,
                csrf_token=new_token(),
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.lifetime,
            ),
        )
        return value

    def resolve(self, session: Session, *, cookie: str | None) -> ActiveSession | None:
        if not cookie or len(cookie) > 128:
            return None
        row = repository.get_session(session, _hash(cookie))
        if row is None:
            return None
        now = utcnow()
        if as_utc(row.expires_at) <= now or as_utc(row.last_seen_at) < now - self.idle:
            return None
        user = organisations.get_user(session, row.user_id)
        if user is None or not user.active:
            return None
        # Deactivating the user ended the session for good, whatever their state now.
        ended = auth_repository.revoked_before(session, holder=USER_HOLDER, holder_id=user.id)
        if ended is not None and as_utc(row.created_at) <= ended:
            return None
        organisation = organisations.get_organisation(session, user.organisation_id)
        if organisation is None:
            return None
        if now - as_utc(row.last_seen_at) > TOUCH_EVERY:
            row.last_seen_at = now
            session.add(row)
        return ActiveSession(
            id_hash=row.id_hash,
            user=user,
            organisation=organisation,
            csrf_token=row.csrf_token,
            expires_at=as_utc(row.expires_at),
        )

    @staticmethod
    def end(session: Session, *, id_hash: str) -> None:
        repository.delete_session(session, id_hash)
