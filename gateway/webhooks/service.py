"""Webhook subscriptions and delivery, following the Standard Webhooks convention.

https://www.standardwebhooks.com/ — each message carries ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256
over ``id.timestamp.body`` with the subscription's ``whsec_`` secret; the
``standardwebhooks`` package signs). Payloads are thin: identifiers and
statuses, never personal data or answers; the receiver reads details through
the API with its own token.

Delivery claims due messages in one short transaction (a lease), sends them
without holding a database lock, and records each result in another; a
message that keeps failing ends ``failed`` and stays for the operator.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from standardwebhooks.webhooks import Webhook

from gateway.clock import utcnow
from gateway.errors import BadRequest
from gateway.ids import new_id
from gateway.sealing import Sealer
from gateway.webhooks.models import OutboxMessage, OutboxStatus, WebhookSubscription

logger = structlog.get_logger(__name__)

EVENT_TYPES = (
    "consent.granted",
    "consent.confirmed",
    "consent.amended",
    "consent.revoked",
    "consent.paused",
    "consent.resumed",
    "consent.expired",
    "consent.deletion_requested",
    "query.routed",
    "query.answered",
    "query.cancelled",
    "query.expired",
    "query.failed",
)
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int
    retried: int
    failed: int


class WebhookService:
    def __init__(
        self,
        *,
        sealer: Sealer,
        http: httpx.Client,
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=5),
        allow_http_loopback: bool = True,
    ) -> None:
        self._sealer = sealer
        self._http = http
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._allow_http_loopback = allow_http_loopback

    # -- subscriptions ------------------------------------------------------------

    def subscribe(
        self, session: Session, *, organisation_id: str, url: str, event_types: Iterable[str]
    ) -> tuple[WebhookSubscription, str]:
        """A new subscription and its secret (shown once; stored sealed)."""
        parts = urlsplit(url)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if parts.scheme != "https" and not (
            parts.scheme == "http" and loopback and self._allow_http_loopback
        ):
            raise BadRequest("Webhook URLs must be https://.", slug="invalid-webhook-url")
        chosen = sorted(set(event_types))
        unknown = [e for e in chosen if e not in EVENT_TYPES]
        if unknown or not chosen:
            raise BadRequest(
                f"Unknown or missing event types: {', '.join(unknown) or '(none)'}.",
                slug="invalid-event-types",
            )
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        subscription_id = new_id("whs")
        subscription = WebhookSubscription(
            id=subscription_id,
            organisation_id=organisation_id,
            url=url,
            secret_sealed=self._sealer.seal(
                secret.encode("ascii"), context=f"webhooks/{subscription_id}/secret"
            ),
            event_types=chosen,
        )
        session.add(subscription)
        session.flush()
        return subscription, secret

    def subscriptions(self, session: Session, *, organisation_id: str) -> list[WebhookSubscription]:
        return list(
            session.exec(
                select(WebhookSubscription).where(
                    WebhookSubscription.organisation_id == organisation_id
                )
            ).all()
        )

    # -- the outbox ------------------------------------------------------------------

    def enqueue(
        self,
        session: Session,
        *,
        organisation_ids: Iterable[str],
        event_type: str,
        data: dict[str, Any],
    ) -> int:
        """Write one message per interested subscription, in the caller's transaction."""
        organisations = sorted(set(organisation_ids))
        if not organisations:
            return 0
        subscriptions = session.exec(
            select(WebhookSubscription).where(
                col(WebhookSubscription.organisation_id).in_(organisations),
                col(WebhookSubscription.enabled).is_(True),
            )
        ).all()
        count = 0
        now = utcnow()
        for subscription in subscriptions:
            if event_type not in subscription.event_types:
                continue
            session.add(
                OutboxMessage(
                    id=new_id("msg"),
                    subscription_id=subscription.id,
                    event_type=event_type,
                    payload={
                        "type": event_type,
                        "timestamp": now.isoformat(),
                        "data": data,
                    },
                    status=OutboxStatus.PENDING,
                    next_attempt_at=now,
                )
            )
            count += 1
        session.flush()
        return count

    def deliver_due(self, engine: Engine, *, batch: int = 50) -> DeliveryReport:
        claimed = self._claim(engine, batch=batch)
        delivered = retried = failed = 0
        for message_id in claimed:
            outcome = self._send(engine, message_id)
            delivered += outcome == "delivered"
            retried += outcome == "retry"
            failed += outcome == "failed"
        return DeliveryReport(delivered=delivered, retried=retried, failed=failed)

    def _claim(self, engine: Engine, *, batch: int) -> list[str]:
        now = utcnow()
        with Session(engine) as session:
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    col(OutboxMessage.next_attempt_at) <= now,
                )
                .order_by(col(OutboxMessage.next_attempt_at))
                .limit(batch)
            )
            if engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            messages = session.exec(query).all()
            for message in messages:
                # A lease: another worker skips it until the lease ends.
                message.next_attempt_at = now + LEASE
                message.attempts += 1
                session.add(message)
            session.commit()
            return [message.id for message in messages]

    def _send(self, engine: Engine, message_id: str) -> str:
        with Session(engine) as session:
            message = session.get(OutboxMessage, message_id)
            if message is None:
                return "failed"
            subscription = session.get(WebhookSubscription, message.subscription_id)
            assert subscription is not None
            secret = self._sealer.open(
                subscription.secret_sealed, context=f"webhooks/{subscription.id}/secret"
            ).decode("ascii")
            url = subscription.url
            body = json.dumps(message.payload, separators=(",", ":"), sort_keys=True)
            attempt = message.attempts
        timestamp = utcnow()
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
        }
        error: str | None = None
        try:
            response = self._http.post(
                url, content=body.encode("utf-8"), headers=headers, timeout=5.0
            )
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        with Session(engine) as session:
            message = session.get(OutboxMessage, message_id)
            assert message is not None
            now = utcnow()
            if error is None:
                message.status = OutboxStatus.DELIVERED
                message.delivered_at = now
                outcome = "delivered"
            elif attempt >= self._max_attempts:
                message.status = OutboxStatus.FAILED
                message.last_error = error
                outcome = "failed"
                logger.warning("webhook_failed", message_id=message_id, error=error)
            else:
                message.last_error = error
                message.next_attempt_at = now + self._backoff_base * (2 ** (attempt - 1))
                outcome = "retry"
            session.add(message)
            session.commit()
        return outcome

    def failures(self, session: Session) -> list[OutboxMessage]:
        return list(
            session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.FAILED)
                .order_by(col(OutboxMessage.created_at))
            ).all()
        )

    def retry_failed(self, session: Session, *, message_id: str) -> OutboxMessage | None:
        message = session.get(OutboxMessage, message_id)
        if message is None or message.status is not OutboxStatus.FAILED:
            return None
        message.status = OutboxStatus.PENDING
        message.attempts = 0
        message.next_attempt_at = utcnow()
        session.add(message)
        return message

    @staticmethod
    def depth(session: Session) -> int:
        return int(
            session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PENDING)
            ).one()
        )
