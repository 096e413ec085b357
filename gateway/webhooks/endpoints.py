"""An organisation's webhook subscriptions: create (the secret is shown once), list, disable.

A URL the destination rules refuse is a 422 problem (``invalid-webhook-url``); a
subscription beyond the organisation's cap is a 409 (``too-many-webhook-subscriptions``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth.principal import Principal
from gateway.dependencies import ContainerDep, CurrentPrincipal, SessionDep
from gateway.errors import Forbidden, NotFound
from gateway.organisations import repository as organisations
from gateway.policy.models import Action, OrganisationKind, RecordsFacts
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


def _require_member(session: SessionDep, container: ContainerDep, principal: Principal) -> None:
    """The rule ``webhooks.own_organisation``: a user of the organisation, never a bare
    client token (deliveries name consents and pseudonyms)."""
    organisation = organisations.get_organisation(session, principal.organisation_id)
    if organisation is None:
        raise Forbidden("The token's organisation no longer exists.", slug="user-required")
    container.guard.require(
        session,
        principal,
        Action.MANAGE_WEBHOOKS,
        about=RecordsFacts(
            owner_id=organisation.id,
            owner_kind=OrganisationKind(organisation.kind.value),
            owner_parent_id=organisation.parent_id,
        ),
        otherwise=lambda: Forbidden(
            "Your role does not manage webhook subscriptions.", slug="webhooks-forbidden"
        ),
    )


@router.post("", status_code=201)
def subscribe(
    body: SubscriptionCreate,
    principal: CurrentPrincipal,
    container: ContainerDep,
    session: SessionDep,
) -> dict[str, Any]:
    _require_member(session, container, principal)
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
    _require_member(session, container, principal)
    items = container.webhooks.subscriptions(session, organisation_id=principal.organisation_id)
    return {"items": [_view(item) for item in items], "next": None}


@router.delete("/{subscription_id}", status_code=204)
def unsubscribe(
    subscription_id: str, principal: CurrentPrincipal, container: ContainerDep, session: SessionDep
) -> None:
    _require_member(session, container, principal)
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or subscription.organisation_id != principal.organisation_id:
        raise NotFound("No such subscription.", slug="subscription-not-found")
    subscription.enabled = False
    session.add(subscription)
    session.commit()
