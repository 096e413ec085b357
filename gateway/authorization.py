"""Turning the authenticated principal into the policy engine's principal.

Only tokens that act for a user (the RFC 7523 JWT bearer grant) can be a
policy principal: a bare client has no role, and the rules permit nothing
without one (deny by default).
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.auth.principal import Principal
from gateway.errors import Forbidden
from gateway.organisations import repository as organisations
from gateway.policy.models import OrganisationKind as PolicyOrganisationKind
from gateway.policy.models import Principal as PolicyPrincipal
from gateway.policy.models import Role as PolicyRole


def policy_principal(session: Session, principal: Principal) -> PolicyPrincipal:
    if principal.user_id is None or principal.role is None:
        raise Forbidden(
            "This action needs a token that acts for a user (JWT bearer grant).",
            slug="user-required",
        )
    organisation = organisations.get_organisation(session, principal.organisation_id)
    if organisation is None:
        raise Forbidden("The token's organisation no longer exists.", slug="user-required")
    return PolicyPrincipal(
        user_id=principal.user_id,
        role=PolicyRole(principal.role.value),
        organisation_id=organisation.id,
        organisation_kind=PolicyOrganisationKind(organisation.kind.value),
    )
