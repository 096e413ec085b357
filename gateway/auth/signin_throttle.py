"""Failed web sign-ins, counted per client address and per (account, client address).

Issue 15, finding 13: attempts for unknown accounts ran argon2 and wrote an
audit event each, without limit, and five wrong passwords locked any staff
account for fifteen minutes, a lockout anyone could trigger. The rules now
(``gateway.web.accounts`` applies them):

- **Per client address**, a sliding window: after ``web_signin_address_attempts``
  failed sign-ins within ``web_signin_address_minutes`` (any accounts, known or
  not) the address is paused until the oldest of them leaves the window. A
  paused address gets 429 with ``Retry-After``: no password check, no database
  write, no audit event; reaching the limit is audited once
  (``signin.throttled``). An address thus costs at most that many argon2 runs
  and audit events per window.
- **Per (account, client address)**, the lockout: ``web_lockout_attempts``
  failures of one account from one address within ``web_lockout_minutes``
  lock the account for that address only, even for the right password, until
  the oldest of them leaves the window. From every other address the account
  signs in as usual, so an attacker locks out nobody but themselves; guessing
  from many addresses is bounded by each address's own throttle. A success
  clears the account's failures from that address.

The failures live in the database (``auth_signin_failures``), so every
gateway process counts the same. On PostgreSQL the count and the insert of
concurrent attempts are not one atomic step: an address can overshoot its
limit by the requests it has in progress (bounded by admission control);
SQLite serialises writers. Rows are deleted once no window counts them
(``AuthorizationServer.purge_expired``).

The client address is what the ASGI server reports. Behind a reverse proxy,
start uvicorn with ``--forwarded-allow-ips`` naming the proxy (it then takes
the address from ``X-Forwarded-For``), or all clients share the proxy's
address and its window. IPv6 addresses count per /64, the block that one
subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.auth import repository
from gateway.settings import Settings

UNKNOWN_ADDRESS = "unknown"
MAX_ADDRESS_LENGTH = 64


@dataclass(frozen=True)
class Window:
    """At most ``attempts`` failures within ``length``, sliding."""

    attempts: int
    length: timedelta

    def closed_until(self, failures: list[datetime]) -> datetime | None:
        """Until when the window is closed, given its failures newest first (or None)."""
        if len(failures) < self.attempts:
            return None
        return failures[self.attempts - 1] + self.length


def address_window(settings: Settings) -> Window:
    return Window(
        attempts=settings.web_signin_address_attempts,
        length=timedelta(minutes=settings.web_signin_address_minutes),
    )


def client_address(host: str | None) -> str:
    """The key that failures of a client are counted under."""
    if not host:
        return UNKNOWN_ADDRESS
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_ADDRESS_LENGTH]  # not an IP (test clients, unix sockets)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def address_failures(
    session: Session, *, address: str, window: Window, now: datetime
) -> list[datetime]:
    """The address's failures (any account) within the window, newest first."""
    return repository.recent_signin_failures(
        session, address=address, since=now - window.length, limit=window.attempts
    )


def account_failures(
    session: Session, *, address: str, user_id: str, window: Window, now: datetime
) -> list[datetime]:
    """The account's failures from the address within the window, newest first."""
    return repository.recent_signin_failures(
        session,
        address=address,
        user_id=user_id,
        since=now - window.length,
        limit=window.attempts,
    )


def record_failure(session: Session, *, address: str, user_id: str | None, now: datetime) -> None:
    repository.add_signin_failure(session, address=address, user_id=user_id, moment=now)


def record_success(session: Session, *, address: str, user_id: str) -> None:
    repository.clear_signin_failures(session, user_id=user_id, address=address)


def forget_account(session: Session, *, user_id: str) -> None:
    """A new password lifts every lock of the account."""
    repository.clear_signin_failures(session, user_id=user_id)
