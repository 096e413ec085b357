"""The gateway's own accounts for the web pages: argon2id passwords, throttling and lockout.

Sign-in is an ``IdentityProvider``: it proves who a person is and returns
their ``User``; ``sessions.WebSessions.start`` then opens a session for that
user whoever proved it. The password provider below is the one the gateway
ships; an upstream OpenID Connect provider plugs in as a second provider whose
callback maps the ID token's ``sub`` to a user and calls the same ``start``.

Passwords are hashed with argon2id (RFC 9106) by ``argon2-cffi``'s defaults.
Failed attempts are counted per client address and per (account, client
address) (``gateway.auth.signin_throttle`` has the rules and why): a paused
address is refused (``SigninThrottled``, 429) before anything is checked, and
``lockout_attempts`` failures within ``lockout`` lock the account for that
address only (audited as ``signin.locked``), so nobody can lock staff out
from elsewhere. Every attempt that is checked is audited with identifiers
only, never the e-mail address typed, the client address or anything about
the device; an address that reaches its limit is audited once
(``signin.throttled``) and its further attempts not at all.

The password check (argon2, deliberately slow) runs between a read-only
transaction and the request's write transaction, never inside the latter:
on SQLite that would hold the one write lock of the gateway meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.auth import signin_throttle
from gateway.auth.signin_throttle import Window
from gateway.clock import utcnow
from gateway.database import reader
from gateway.errors import BadRequest, NotFound
from gateway.organisations import repository as organisations
from gateway.organisations.models import User
from gateway.web import repository

WEB_CLIENT_ID = "web"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256


class SigninFailed(Exception):
    """One answer for every failure, so the form tells nobody which accounts exist."""


class SigninThrottled(Exception):
    """Too many failed sign-ins from the client's address; nothing was checked or written."""

    def __init__(self, *, until: datetime, now: datetime) -> None:
        super().__init__("sign-in from this address is paused")
        self.retry_after = max(1, math.ceil((until - now).total_seconds()))


@dataclass(frozen=True)
class PasswordCredentials:
    email: str
    password: str


class IdentityProvider(Protocol):
    """Proves who is signing in from ``address`` (``signin_throttle.client_address``).

    Raises ``SigninThrottled`` or ``SigninFailed``; returns an active user.
    """

    def authenticate(
        self,
        session: Session,
        *,
        credentials: PasswordCredentials,
        address: str,
        address_window: Window,
        trace_id: str | None,
    ) -> User: ...


@dataclass(frozen=True)
class _Checked:
    """What the read-only step and the password check found."""

    user: User | None  # None: no such account
    reason: str | None  # why it fails; None: the password is right
    new_hash: str | None  # the password hashed with today's parameters, when due


def _actor(user: User | None) -> Actor:
    if user is None:
        return Actor(client_id=WEB_CLIENT_ID)
    return Actor(organisation_id=user.organisation_id, user_id=user.id, client_id=WEB_CLIENT_ID)


class PasswordAccounts:
    """Password sign-in with throttling and lockout; implements ``IdentityProvider``."""

    def __init__(
        self,
        *,
        audit: AuditTrail,
        lockout_attempts: int,
        lockout: timedelta,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._audit = audit
        self._lockout = Window(attempts=lockout_attempts, length=lockout)
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
        signin_throttle.forget_account(session, user_id=user.id)
        # A new password ends every open session of the account.
        repository.delete_sessions_of(session, user.id)
        self._audit.record(session, AuditEvent(type="user.password_set", actor=_actor(user)))
        return user

    def authenticate(
        self,
        session: Session,
        *,
        credentials: PasswordCredentials,
        address: str,
        address_window: Window,
        trace_id: str | None,
    ) -> User:
        checked = self._check(
            session, credentials=credentials, address=address, address_window=address_window
        )
        # The request's write transaction starts here. The address is checked again in
        # it: another attempt from the address may have failed meanwhile.
        now = utcnow()
        failures = signin_throttle.address_failures(
            session, address=address, window=address_window, now=now
        )
        paused = address_window.closed_until(failures)
        if paused is not None:
            raise SigninThrottled(until=paused, now=now)
        user = organisations.get_user(session, checked.user.id) if checked.user else None
        reason = checked.reason
        if reason is None and (user is None or not user.active):
            reason = "no_web_access"  # deactivated since the read
        if reason is None and user is not None and self._locked(session, user, address, now):
            reason = "locked"  # locked by a concurrent failure since the read
        if reason is not None:
            self._fail(
                session,
                user=user,
                reason=reason,
                address=address,
                address_window=address_window,
                address_failures=len(failures),
                now=now,
                trace_id=trace_id,
            )
            raise SigninFailed
        assert user is not None  # a right password names a user
        signin_throttle.record_success(session, address=address, user_id=user.id)
        if checked.new_hash is not None:
            user.password_hash = checked.new_hash
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

    def _check(
        self,
        session: Session,
        *,
        credentials: PasswordCredentials,
        address: str,
        address_window: Window,
    ) -> _Checked:
        """The throttle, the account and its lock, read without the write lock; then argon2."""
        now = utcnow()
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        with Session(reader(engine)) as reading:
            failures = signin_throttle.address_failures(
                reading, address=address, window=address_window, now=now
            )
            paused = address_window.closed_until(failures)
            if paused is not None:
                raise SigninThrottled(until=paused, now=now)
            user = organisations.find_user_by_email(reading, credentials.email.strip().lower())
            locked = user is not None and self._locked(reading, user, address, now)
        password = credentials.password[:MAX_PASSWORD_LENGTH]
        if user is None or user.password_hash is None or not user.active:
            self._verify(self._dummy_hash, password)
            return _Checked(user, "unknown_account" if user is None else "no_web_access", None)
        if locked:
            self._verify(self._dummy_hash, password)
            return _Checked(user, "locked", None)
        if not self._verify(user.password_hash, password):
            return _Checked(user, "wrong_password", None)
        rehash = self._hasher.check_needs_rehash(user.password_hash)
        return _Checked(user, None, self._hasher.hash(password) if rehash else None)

    def _locked(self, session: Session, user: User, address: str, now: datetime) -> bool:
        failures = signin_throttle.account_failures(
            session, address=address, user_id=user.id, window=self._lockout, now=now
        )
        return self._lockout.closed_until(failures) is not None

    def _fail(
        self,
        session: Session,
        *,
        user: User | None,
        reason: str,
        address: str,
        address_window: Window,
        address_failures: int,
        now: datetime,
        trace_id: str | None,
    ) -> None:
        signin_throttle.record_failure(
            session, address=address, user_id=user.id if user else None, now=now
        )
        self._record(session, "signin.failed", user, trace_id, {"reason": reason})
        if user is not None and reason != "locked":
            failures = signin_throttle.account_failures(
                session, address=address, user_id=user.id, window=self._lockout, now=now
            )
            until = self._lockout.closed_until(failures)
            if until is not None:
                details = {"failures": len(failures), "until": until.isoformat()}
                self._record(session, "signin.locked", user, trace_id, details)
        if address_failures + 1 == address_window.attempts:
            # Once per pause: the attempts refused while it lasts are not audited each.
            failures = signin_throttle.address_failures(
                session, address=address, window=address_window, now=now
            )
            until = address_window.closed_until(failures) or now + address_window.length
            details = {"failures": len(failures), "until": until.isoformat()}
            self._record(session, "signin.throttled", None, trace_id, details)

    def _record(
        self,
        session: Session,
        event_type: str,
        user: User | None,
        trace_id: str | None,
        details: dict[str, object],
    ) -> None:
        self._audit.record(
            session,
            AuditEvent(type=event_type, actor=_actor(user), trace_id=trace_id, details=details),
        )

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def check_password_rules(password: str) -> None:
    """BSI IT-Grundschutz ORP.4 favours length over composition rules."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise BadRequest(
            f"A password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            slug="weak-password",
        )
    if len(set(password)) < 5:
        raise BadRequest("The password repeats too few characters.", slug="weak-password")
