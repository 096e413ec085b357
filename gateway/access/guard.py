"""The one access guard: every read and change of personal data asks it.

API routes, pages, self-service pages and the CLI do not decide who may see
or do what; they call the service of their use case, and the service asks the
guard with the facts of the resource (a consent, a person, a query, an
organisation's records). The guard checks the token's OAuth scope for the
action (what the client was granted, RFC 6749 section 3.3), turns the caller
into the policy engine's principal and lets the Cedar rules of
``policies/rules.cedar`` decide. Deny by default: no permit, no access.

A token without a user (``client_credentials``) is no principal: personal
data needs a user with a role, so such a token is refused with
``user-required`` before anything is read. The holder of a self-service code
is a principal of its own (``CodeHolder``), allowed only what the rules say
of codes.

The decision, with the ids of the rules that decided, is returned so that the
service can write it on the audit event of the access.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from gateway.auth.principal import Principal
from gateway.auth.scopes import Scope
from gateway.clock import utcnow
from gateway.errors import Forbidden, GatewayError
from gateway.organisations import repository as organisations
from gateway.policy.engine import PolicyEngine
from gateway.policy.models import (
    Action,
    CodeHolder,
    ConsentFacts,
    Decision,
    OrganisationKind,
    PersonFacts,
    PolicyRequest,
    QueryFacts,
    RecordsFacts,
    Role,
)
from gateway.policy.models import Principal as PolicyPrincipal

#: The OAuth scopes that let a token attempt an action at all (any one of them).
#: The scope says what the client software was granted; the rules say what the
#: user may do with it.
ACTION_SCOPES: dict[Action, frozenset[Scope]] = {
    Action.ASK: frozenset({Scope.QUERIES_ASK}),
    Action.ANSWER: frozenset({Scope.QUERIES_ANSWER}),
    Action.READ_CONSENT: frozenset({Scope.CONSENTS_READ}),
    Action.WRITE_CONSENT: frozenset({Scope.CONSENTS_WRITE}),
    Action.REVOKE_CONSENT: frozenset({Scope.CONSENTS_WRITE}),
    Action.READ_RECEIPT: frozenset({Scope.CONSENTS_READ}),
    Action.READ_SELF_SERVICE_CODE: frozenset({Scope.CONSENTS_WRITE}),
    Action.REGISTER_PERSON: frozenset({Scope.CONSENTS_WRITE, Scope.CONSENTS_READ}),
    Action.READ_PERSON: frozenset(
        {Scope.CONSENTS_WRITE, Scope.CONSENTS_READ, Scope.QUERIES_ASK, Scope.QUERIES_ANSWER}
    ),
    Action.MOVE_PERSON: frozenset({Scope.CONSENTS_WRITE}),
    Action.READ_QUERY: frozenset({Scope.QUERIES_ASK, Scope.QUERIES_ANSWER}),
    Action.READ_ANSWER: frozenset({Scope.QUERIES_ASK}),
    Action.CANCEL_QUERY: frozenset({Scope.QUERIES_ASK}),
    Action.READ_AUDIT: frozenset({Scope.AUDIT_READ}),
    Action.READ_FIGURES: frozenset(),
    Action.MANAGE_WEBHOOKS: frozenset(
        {Scope.CONSENTS_READ, Scope.QUERIES_ASK, Scope.QUERIES_ANSWER}
    ),
}


#: The facts of the resource an action is about.
Facts = ConsentFacts | PersonFacts | QueryFacts | RecordsFacts


def _insufficient_scope(action: Action) -> Forbidden:
    needed = sorted(scope.value for scope in ACTION_SCOPES[action])
    return Forbidden(
        f"The access token lacks the scope '{needed[0]}'.",
        slug="insufficient-scope",
        required_scope=needed[0],
    )


@dataclass
class AccessGuard:
    """Decides each use of personal data by the rules; see the module docstring."""

    engine: PolicyEngine
    clock: Callable[[], datetime] = field(default=utcnow)

    # -- who acts ---------------------------------------------------------------------

    def acting(self, session: Session, principal: Principal) -> PolicyPrincipal:
        """The policy engine's principal for ``principal``; a token without a user is none."""
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
            role=Role(principal.role.value),
            organisation_id=organisation.id,
            organisation_kind=OrganisationKind(organisation.kind.value),
        )

    # -- deciding -----------------------------------------------------------------------

    @staticmethod
    def attempt(principal: Principal, action: Action) -> None:
        """Refuse at once a token that cannot attempt ``action`` at all (lacking any of
        its scopes), before the work of finding out whether the rules permit it."""
        needed = ACTION_SCOPES[action]
        if needed and not principal.scopes & needed:
            raise _insufficient_scope(action)

    def decide(
        self, session: Session, principal: Principal, action: Action, *, about: Facts
    ) -> Decision:
        """The rules' decision on ``action`` with the resource ``about``; raises
        ``Forbidden`` when the token cannot attempt it at all (a scope it lacks, no user)."""
        self.attempt(principal, action)
        return self.engine.decide(
            PolicyRequest(
                principal=self.acting(session, principal),
                action=action,
                now=self.clock(),
                consent=about if isinstance(about, ConsentFacts) else None,
                person=about if isinstance(about, PersonFacts) else None,
                query=about if isinstance(about, QueryFacts) else None,
                records=about if isinstance(about, RecordsFacts) else None,
            )
        )

    def decide_if_attemptable(
        self, session: Session, principal: Principal, action: Action, *, about: Facts
    ) -> Decision | None:
        """The decision, or None where the token lacks the scope to attempt ``action``:
        for what a response adds when allowed (the receipt's self-service code, an
        answer beside its query)."""
        if not principal.scopes & ACTION_SCOPES[action]:
            return None
        return self.decide(session, principal, action, about=about)

    def require(
        self,
        session: Session,
        principal: Principal,
        action: Action,
        *,
        about: Facts,
        otherwise: Callable[[], GatewayError],
    ) -> Decision:
        """The permitting decision, or ``otherwise()`` raised (a 404 where the
        resource must not be known to exist, a 403 where it is)."""
        decision = self.decide(session, principal, action, about=about)
        if not decision.allowed:
            raise otherwise()
        return decision

    def allows(
        self, session: Session, principal: Principal, action: Action, *, about: Facts
    ) -> bool:
        return self.decide(session, principal, action, about=about).allowed

    def by_code(self, action: Action, *, holder: CodeHolder, consent: ConsentFacts) -> Decision:
        """A decision for the holder of a self-service code (no token, no organisation)."""
        return self.engine.decide(
            PolicyRequest(principal=holder, action=action, now=self.clock(), consent=consent)
        )

    # -- records: audit events and key figures ------------------------------------------

    def records_scope(
        self, session: Session, principal: Principal, action: Action
    ) -> frozenset[str] | None:
        """The organisations whose records ``principal`` may read by ``action``
        (``read_audit``, ``read_figures``): None for all of them; raises
        ``Forbidden`` when none.

        The candidates are the principal's own organisation and the
        organisations below it; the rules decide each.
        """
        if self.allows(session, principal, action, about=RecordsFacts()):
            return None
        own = organisations.get_organisation(session, principal.organisation_id)
        candidates = ([own] if own is not None else []) + organisations.children_of(
            session, principal.organisation_id
        )
        visible = frozenset(
            organisation.id
            for organisation in candidates
            if self.allows(
                session,
                principal,
                action,
                about=RecordsFacts(
                    owner_id=organisation.id,
                    owner_kind=OrganisationKind(organisation.kind.value),
                    owner_parent_id=organisation.parent_id,
                ),
            )
        )
        if not visible:
            raise Forbidden(
                "Your role may not read these records.",
                slug=f"{action.value.removeprefix('read_')}-forbidden",
            )
        return visible
