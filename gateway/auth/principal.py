"""The acting principal of an API request, as proven by its access token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.audit.service import Actor
from gateway.auth.scopes import Scope
from gateway.errors import Forbidden
from gateway.organisations.models import Role


@dataclass(frozen=True)
class Principal:
    client_id: str
    organisation_id: str
    user_id: str | None
    role: Role | None
    scopes: frozenset[Scope]
    token_id: str
    expires_at: datetime

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(
                f"The access token lacks the scope '{scope.value}'.",
                slug="insufficient-scope",
                required_scope=scope.value,
            )

    @property
    def actor(self) -> Actor:
        """Who the audit trail names for this caller: identifiers, never names."""
        return Actor(
            organisation_id=self.organisation_id,
            user_id=self.user_id,
            client_id=self.client_id,
        )
