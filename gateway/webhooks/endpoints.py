"""An organisation's webhook subscriptions: create (the secret is shown once), list, disable.

A URL the destination rules refuse is a 422 problem (``invalid-webhook-url``); a
subscription beyond the organisation's cap is a 409 (``too-many-webhook-subscriptions``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.principal import Principal
from gateway.auth.scopes import Scope
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.errors import NotFound
from gateway.webhooks.models import WebhookSubscription
from gateway.webhooks.service import SubscriptionRules

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=20)


def _view(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "event_types": subscription.event_types,
        "enabled": subscription.enabled,
    }


def _require_member(principal: Principal) -> None:
    if not principal.scopes & {Scope.CONSENTS_READ, Scope.QUERIES_ASK, Scope.QUERIES_ANSWER}:
        principal.require(Scope.CONSENTS_READ)


@router.post("", status_code=201)
def subscribe(
    body: SubscriptionCreate,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    _require_member(principal)
    subscription, secret = container.webhooks.subscribe(
        session,
        organisation_id=principal.organisation_id,
        url=body.url,
        event_types=body.event_types,
        rules=SubscriptionRules.from_settings(container.settings),
    )
    session.commit()
    return {**_view(subscription), "secret": secret}


@router.get("")
def list_subscriptions(
    principal: CurrentPrincipal, container: ContainerDep, session: SessionDep
) -> dict[str, Any]:
    _require_member(principal)
    items = container.webhooks.subscriptions(session, organisation_id=principal.organisation_id)
    return {"items": [_view(item) for item in items], "next": None}


@router.delete("/{subscription_id}", status_code=204)
def unsubscribe(subscription_id: str, principal: CurrentPrincipal, session: SessionDep) -> None:
    _require_member(principal)
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.organisation_id != principal.organisation_id:
        raise NotFound("No such subscription.", slug="subscription-not-found")
    subscription.enabled = False
    session.add(subscription)
    session.commit()
