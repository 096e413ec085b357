"""The gateway's own accounts for the web pages: argon2id passwords and lockout.

Sign-in is an ``IdentityProvider``: it proves who a person is and returns
their ``User``; ``sessions.WebSessions.start`` then opens a session for that
user whoever proved it. The password provider below is the one the gateway
ships; an upstream OpenID Connect provider plugs in as a second provider whose
callback maps the ID token's ``sub`` to a user and calls the same ``start``.

Passwords are hashed with argon2id (RFC 9106) by ``argon2-cffi``'s defaults.
After ``lockout_attempts`` consecutive failures an account is locked for
``lockout`` (audited as ``signin.locked``). Every attempt is audited with
identifiers only, never the e-mail address typed or anything about the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session

from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.clock import as_utc, utcnow
from gateway.errors import BadRequest, NotFound
from gateway.organisations import repository as organisations
from gateway.organisations.models import User
from gateway.web import repository
from gateway.web.models import SigninCounter

WEB_CLIENT_ID = "web"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


class SigninFailed(Exception):
    """One answer for every failure, so the form tells nobody which accounts exist."""


@dataclass(frozen=True)
class PasswordCredentials:
    email: str
    password: str


class IdentityProvider(Protocol):
    """Proves who is signing in. Raises ``SigninFailed``; returns an active user."""

    def authenticate(
        self, session: Session, *, credentials: PasswordCredentials, trace_id: str | None
    ) -> User: ...


def _actor(user: User | None) -> Actor:
    if user is None:
        return Actor(client_id=WEB_CLIENT_ID)
    return Actor(organisation_id=user.organisation_id, user_id=user.id, client_id=WEB_CLIENT_ID)


class PasswordAccounts:
    """Password sign-in with lockout; implements ``IdentityProvider``."""

    def __init__(
        self,
        *,
        audit: AuditTrail,
        lockout_attempts: int,
        lockout: timedelta,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._audit = audit
        self._attempts = lockout_attempts
        self._lockout = lockout
        self._hasher = hasher or PasswordHasher()
        # Verified against when the account is unknown, so both cases take as long.
        self._dummy_hash = self._hasher.hash("not a password of anybody")

    def set_password(self, session: Session, *, user_id: str, password: str) -> User:
        user = organisations.get_user(session, user_id)
        if user is None:
            raise NotFound(f"User {user_id} does not exist.", slug="user-not-found")
        check_password_rules(password)
        user.password_hash = self._hasher.hash(password)
        session.add(user)
        counter = repository.counter_for_update(session, user.id)
        if counter is not None:
            counter.failures = 0
            counter.locked_until = None
            repository.save_counter(session, counter)
        # A new password ends every open session of the account.
        repository.delete_sessions_of(session, user.id)
        self._audit.record(session, AuditEvent(type="user.password_set", actor=_actor(user)))
        return user

    def authenticate(
        self, session: Session, *, credentials: PasswordCredentials, trace_id: str | None
    ) -> User:
        user = organisations.find_user_by_email(session, credentials.email.strip().lower())
        password = credentials.password[:MAX_PASSWORD_LENGTH]
        if user is None or user.password_hash is None or not user.active:
            self._verify(self._dummy_hash, password)
            reason = "unknown_account" if user is None else "no_web_access"
            self._failed(session, user if user is not None else None, reason, trace_id)
            raise SigninFailed
        counter = repository.counter_for_update(session, user.id) or SigninCounter(user_id=user.id)
        now = utcnow()
        if counter.locked_until is not None and as_utc(counter.locked_until) > now:
            self._verify(self._dummy_hash, password)
            self._failed(session, user, "locked", trace_id)
            raise SigninFailed
        if counter.locked_until is not None:
            counter.failures, counter.locked_until = 0, None  # the lock ran out: start afresh
        if not self._verify(user.password_hash, password):
            counter.failures += 1
            counter.last_failure_at = now
            if counter.failures >= self._attempts:
                counter.locked_until = now + self._lockout
            repository.save_counter(session, counter)
            self._failed(session, user, "wrong_password", trace_id)
            if counter.locked_until is not None:
                self._audit.record(
                    session,
                    AuditEvent(
                        type="signin.locked",
                        actor=_actor(user),
                        trace_id=trace_id,
                        details={
                            "failures": counter.failures,
                            "until": as_utc(counter.locked_until).isoformat(),
                        },
                    ),
                )
            raise SigninFailed
        counter.failures, counter.last_failure_at = 0, None
        repository.save_counter(session, counter)
        if self._hasher.check_needs_rehash(user.password_hash):
            user.password_hash = self._hasher.hash(password)
            session.add(user)
        self._audit.record(
            session,
            AuditEvent(
                type="signin.succeeded",
                actor=_actor(user),
                trace_id=trace_id,
                details={"method": "password"},
            ),
        )
        return user

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _failed(
        self, session: Session, user: User | None, reason: str, trace_id: str | None
    ) -> None:
        self._audit.record(
            session,
            AuditEvent(
                type="signin.failed",
                actor=_actor(user),
                trace_id=trace_id,
                details={"reason": reason},
            ),
        )


def check_password_rules(password: str) -> None:
    """BSI IT-Grundschutz ORP.4 favours length over composition rules."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise BadRequest(
            f"A password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            slug="weak-password",
        )
    if len(set(password)) < 5:
        raise BadRequest("The password repeats too few characters.", slug="weak-password")
