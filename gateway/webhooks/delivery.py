"""One delivery attempt of one outbox message: read it, send it signed, record the result.

Standard Webhooks (https://www.standardwebhooks.com/): ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` over ``id.timestamp.body``.
Only the status line of the answer is read; the receiver's body is never
waited for. A destination the rules refuse (``gateway.webhooks.destinations``)
fails the message at once with the reason: asking again cannot change the rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import httpx
import structlog
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook

from gateway.clock import utcnow
from gateway.sealing import Sealer
from gateway.settings import Settings
from gateway.webhooks.destinations import Destinations
from gateway.webhooks.models import OutboxMessage, OutboxStatus, WebhookSubscription
from gateway.webhooks.transport import DestinationRefused

logger = structlog.get_logger(__name__)

Outcome = Literal["delivered", "retry", "failed"]
ERROR_LIMIT = 300  # the width of ``OutboxMessage.last_error``


@dataclass(frozen=True)
class DeliveryOptions:
    """How deliveries behave; ``from_settings`` reads the ``GATEWAY_WEBHOOK_*`` settings."""

    destinations: Destinations
    timeout_seconds: float = 5.0
    workers: int = 4
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=5)
    backoff_cap: timedelta = timedelta(hours=1)
    breaker_threshold: int = 3
    breaker_reset_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryOptions:
        return cls(
            destinations=Destinations.from_settings(settings),
            timeout_seconds=settings.webhook_timeout_seconds,
            workers=settings.webhook_workers,
            max_attempts=settings.webhook_max_attempts,
            backoff_base=timedelta(seconds=settings.webhook_backoff_seconds),
            breaker_threshold=settings.webhook_breaker_threshold,
            breaker_reset_seconds=settings.webhook_breaker_reset_seconds,
        )


@dataclass(frozen=True)
class Prepared:
    message_id: str
    subscription_id: str
    url: str
    body: str
    secret: str
    attempt: int


@dataclass(frozen=True)
class Result:
    error: str | None = None
    # The rules refused the destination: no retry, and nothing for the breaker to learn.
    refused: bool = False

    @property
    def breaker_success(self) -> bool | None:
        return None if self.refused else self.error is None


def prepare(session: Session, sealer: Sealer, message_id: str) -> Prepared | None:
    message = session.get(OutboxMessage, message_id)
    if message is None:
        return None
    subscription = session.get(WebhookSubscription, message.subscription_id)
    if subscription is None:
        return None
    secret = sealer.open(
        subscription.secret_sealed, context=f"webhooks/{subscription.id}/secret"
    ).decode("ascii")
    return Prepared(
        message_id=message.id,
        subscription_id=subscription.id,
        url=subscription.url,
        body=json.dumps(message.payload, separators=(",", ":"), sort_keys=True),
        secret=secret,
        attempt=message.attempts,
    )


def send(client: httpx.Client, prepared: Prepared, destinations: Destinations) -> Result:
    # Subscriptions made before the rules existed are judged again here.
    refusal = destinations.url_refusal(prepared.url)
    if refusal is not None:
        return Result(error=f"refused: {refusal}", refused=True)
    timestamp = utcnow()
    headers = {
        "content-type": "application/json",
        "webhook-id": prepared.message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(prepared.secret).sign(
            prepared.message_id, timestamp, prepared.body
        ),
    }
    try:
        with client.stream(
            "POST", prepared.url, content=prepared.body.encode("utf-8"), headers=headers
        ) as response:
            status = response.status_code
    except DestinationRefused as exc:
        return Result(error=f"refused: {exc}", refused=True)
    except httpx.HTTPError as exc:
        return Result(error=type(exc).__name__)
    return Result() if 200 <= status < 300 else Result(error=f"HTTP {status}")


def record(
    session: Session, prepared: Prepared, result: Result, *, options: DeliveryOptions
) -> Outcome:
    message = session.get(OutboxMessage, prepared.message_id)
    if message is None:
        return "failed"
    now = utcnow()
    outcome: Outcome
    if result.error is None:
        message.status = OutboxStatus.DELIVERED
        message.delivered_at = now
        outcome = "delivered"
    elif result.refused or prepared.attempt >= options.max_attempts:
        message.status = OutboxStatus.FAILED
        message.last_error = result.error[:ERROR_LIMIT]
        outcome = "failed"
        logger.warning(
            "webhook_failed",
            message_id=prepared.message_id,
            subscription_id=prepared.subscription_id,
            error=message.last_error,
        )
    else:
        message.last_error = result.error[:ERROR_LIMIT]
        delay = options.backoff_base * (2 ** (prepared.attempt - 1))
        message.next_attempt_at = now + min(delay, options.backoff_cap)
        outcome = "retry"
    session.add(message)
    return outcome
