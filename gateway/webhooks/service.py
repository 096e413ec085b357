"""Webhook subscriptions and the outbox, following the Standard Webhooks convention.

https://www.standardwebhooks.com/ — each message carries ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256
over ``id.timestamp.body`` with the subscription's ``whsec_`` secret; the
``standardwebhooks`` package signs). Payloads are thin: identifiers and
statuses, never personal data or answers; the receiver reads details through
the API with its own token.

A subscription's URL must pass the destination rules
(``gateway.webhooks.destinations``), and an organisation has at most
``GATEWAY_WEBHOOK_MAX_SUBSCRIPTIONS`` enabled subscriptions. Messages are
written to the outbox in the transaction of the change they announce and
delivered by ``gateway.webhooks.dispatcher``; a message that keeps failing
ends ``failed`` and stays for the operator.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.clock import utcnow
from gateway.errors import BadRequest, Conflict, GatewayError
from gateway.ids import new_id
from gateway.sealing import Sealer
from gateway.settings import Settings
from gateway.webhooks import repository
from gateway.webhooks.delivery import DeliveryOptions
from gateway.webhooks.destinations import Destinations
from gateway.webhooks.dispatcher import DeliveryReport, WebhookDispatcher
from gateway.webhooks.models import OutboxMessage, OutboxStatus, WebhookSubscription

__all__ = ["EVENT_TYPES", "DeliveryReport", "SubscriptionRules", "WebhookService"]

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


class UnusableWebhookUrl(GatewayError):
    status: ClassVar[int] = 422
    default_slug: ClassVar[str] = "invalid-webhook-url"
    title: ClassVar[str] = "The webhook URL cannot be used"


@dataclass(frozen=True)
class SubscriptionRules:
    """What a new subscription must satisfy; ``from_settings`` reads the gateway's settings."""

    destinations: Destinations
    max_per_organisation: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> SubscriptionRules:
        return cls(
            destinations=Destinations.from_settings(settings),
            max_per_organisation=settings.webhook_max_subscriptions,
        )


class WebhookService:
    def __init__(
        self,
        *,
        sealer: Sealer,
        http: httpx.Client | None = None,
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=5),
        allow_http_loopback: bool = True,
    ) -> None:
        self._sealer = sealer
        # ``http`` is no longer used: deliveries need a client whose connections pass the
        # destination rules (gateway.webhooks.transport), which a shared client cannot be.
        del http
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        # Plain http is allowed only to a listed internal host, and only when this is true.
        self._allow_http = allow_http_loopback

    # -- subscriptions ------------------------------------------------------------

    def subscribe(
        self,
        session: Session,
        *,
        organisation_id: str,
        url: str,
        event_types: Iterable[str],
        rules: SubscriptionRules,
    ) -> tuple[WebhookSubscription, str]:
        """A new subscription and its secret (shown once; stored sealed)."""
        refusal = rules.destinations.url_refusal(url)
        if refusal is not None:
            raise UnusableWebhookUrl(f"This webhook URL cannot be used: {refusal}.")
        chosen = sorted(set(event_types))
        unknown = [e for e in chosen if e not in EVENT_TYPES]
        if unknown or not chosen:
            raise BadRequest(
                f"Unknown or missing event types: {', '.join(unknown) or '(none)'}.",
                slug="invalid-event-types",
            )
        existing = repository.count_enabled(session, organisation_id=organisation_id, lock=True)
        if existing >= rules.max_per_organisation:
            raise Conflict(
                f"An organisation may have at most {rules.max_per_organisation} webhook "
                "subscriptions; delete one it no longer needs first.",
                slug="too-many-webhook-subscriptions",
                limit=rules.max_per_organisation,
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
        """Deliver what is due now, once each, and wait: for operators and tests.

        The running gateway delivers in its own dispatcher (``gateway.app``); this
        pass uses the same guarded, concurrent delivery with a fresh breaker, and
        reaches no internal host (they are the dispatcher's settings).
        """
        options = DeliveryOptions(
            destinations=Destinations(allow_http=self._allow_http),
            max_attempts=self._max_attempts,
            backoff_base=self._backoff_base,
        )
        with WebhookDispatcher(engine=engine, sealer=self._sealer, options=options) as dispatcher:
            return dispatcher.deliver_due(batch=batch)

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
