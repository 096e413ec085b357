"""Test helpers: a small world of organisations, users and clients, and RFC-only assertions.

Client assertions are built here with ``cryptography`` and the standard
library only (not the project's JOSE code), as a client written from the RFCs
would build them.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from fastapi.testclient import TestClient
from httpx import Response

from gateway.auth import registration
from gateway.bootstrap import Container
from gateway.database import unit_of_work
from gateway.organisations import service
from gateway.organisations.models import OrganisationKind, Role

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class ClientKey:
    """An ES256 key pair of a case system, with a JWK Set of its public half."""

    kid: str = field(default_factory=lambda: "k-" + secrets.token_hex(4))
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def public_jwks(self) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "ES256",
                    "x": b64url(numbers.x.to_bytes(32, "big")),
                    "y": b64url(numbers.y.to_bytes(32, "big")),
                }
            ]
        }

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        head = {"alg": "ES256", "typ": "JWT", "kid": self.kid, **(header or {})}
        signing_input = (
            b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
        )
        der = self.private.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def assertion_claims(
    client_id: str, audience: str, *, subject: str | None = None, lifetime: int = 60
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": client_id,
        "sub": subject or client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
    }


@dataclass
class RegisteredClient:
    client_id: str
    organisation_id: str
    key: ClientKey

    def assertion(self, audience: str = "http://testserver/oauth/token", **kw: Any) -> str:
        return self.key.sign(assertion_claims(self.client_id, audience, **kw))

    def auth_form(self, **extra: str) -> dict[str, str]:
        return {
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.assertion(),
            **extra,
        }

    def token(
        self, client: TestClient, *, user_id: str | None = None, scope: str | None = None
    ) -> Response:
        form = self.auth_form()
        if user_id is None:
            form["grant_type"] = "client_credentials"
        else:
            form["grant_type"] = JWT_BEARER
            form["assertion"] = self.assertion(subject=user_id)
        if scope is not None:
            form["scope"] = scope
        return client.post("/oauth/token", data=form)

    def bearer(
        self, client: TestClient, *, user_id: str | None = None, scope: str | None = None
    ) -> dict[str, str]:
        response = self.token(client, user_id=user_id, scope=scope)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@dataclass
class World:
    operator: str
    municipality: str
    other_municipality: str
    jobcenter: str
    manager: str
    dpo: str
    other_dpo: str
    staff: str
    operator_dpo: str
    case_system: RegisteredClient
    other_case_system: RegisteredClient
    operator_client: RegisteredClient
    jobcenter_system: RegisteredClient
    other_jobcenter: str
    other_manager: str
    other_staff: str
    other_jobcenter_system: RegisteredClient

    def strangers(self, client: TestClient) -> list[dict[str, str]]:
        """Tokens of a manager of another municipality and staff of another jobcenter."""
        return [
            self.other_case_system.bearer(client, user_id=self.other_manager),
            self.other_jobcenter_system.bearer(client, user_id=self.other_staff),
        ]


def register_client(
    container: Container, organisation_id: str, scopes: str, key: ClientKey | None = None
) -> RegisteredClient:
    key = key or ClientKey()
    with unit_of_work(container.engine) as session:
        client, _ = registration.add_client(
            session,
            audit=container.audit,
            organisation_id=organisation_id,
            name="Test client",
            scopes=scopes,
            jwks=key.public_jwks(),
        )
    return RegisteredClient(client_id=client.id, organisation_id=organisation_id, key=key)


ALL = "consents:read consents:write queries:ask queries:answer audit:read"


def make_world(container: Container) -> World:
    with unit_of_work(container.engine) as session:
        audit = container.audit

        def org(kind: OrganisationKind, name: str, key: str) -> str:
            return service.add_organisation(
                session, audit=audit, kind=kind, name=name, official_key=key
            ).id

        def user(org_id: str, role: Role, email: str) -> str:
            return service.add_user(
                session,
                audit=audit,
                organisation_id=org_id,
                role=role,
                name="Test User",
                email=email,
            ).id

        operator = org(OrganisationKind.OPERATOR, "Operator", "OP-1")
        municipality = org(OrganisationKind.MUNICIPALITY, "Stadt Brackenheim", "08125013")
        other = org(OrganisationKind.MUNICIPALITY, "Stadt Lauffen", "08125056")
        jobcenter = org(OrganisationKind.JOBCENTER, "Jobcenter Landkreis Heilbronn", "JC-08125")
        manager = user(municipality, Role.INTEGRATION_MANAGER, "im@brackenheim.example")
        dpo = user(municipality, Role.DPO, "dpo@brackenheim.example")
        other_dpo = user(other, Role.DPO, "dpo@lauffen.example")
        staff = user(jobcenter, Role.JOBCENTER_STAFF, "staff@jobcenter.example")
        operator_dpo = user(operator, Role.DPO, "dpo@operator.example")
        other_jobcenter = org(OrganisationKind.JOBCENTER, "Jobcenter Anderswo", "JC-99999")
        other_manager = user(other, Role.INTEGRATION_MANAGER, "im@lauffen.example")
        other_staff = user(other_jobcenter, Role.JOBCENTER_STAFF, "staff@anderswo.example")
    return World(
        operator=operator,
        municipality=municipality,
        other_municipality=other,
        jobcenter=jobcenter,
        manager=manager,
        dpo=dpo,
        other_dpo=other_dpo,
        staff=staff,
        operator_dpo=operator_dpo,
        case_system=register_client(container, municipality, ALL),
        other_case_system=register_client(container, other, ALL),
        operator_client=register_client(container, operator, ALL + " admin"),
        jobcenter_system=register_client(container, jobcenter, ALL),
        other_jobcenter=other_jobcenter,
        other_manager=other_manager,
        other_staff=other_staff,
        other_jobcenter_system=register_client(container, other_jobcenter, ALL),
    )


PERSON = {"given_name": "Yusuf", "family_name": "Demir", "birth_date": "1995-07-01"}


class Desk:
    """An integration manager and a jobcenter colleague working on one person's case."""

    def __init__(self, client: TestClient, world: World) -> None:
        self.client = client
        self.world = world
        self.manager = world.case_system.bearer(client, user_id=world.manager)
        self.staff = world.jobcenter_system.bearer(client, user_id=world.staff)
        self.subject = client.post("/v1/subjects", json=PERSON, headers=self.manager).json()["id"]
        self._keys = 0

    def consent(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject_id": self.subject,
            "jobcenter_id": self.world.jobcenter,
            "purposes": ["benefit_coordination", "measures_and_courses", "integration_planning"],
            "categories": [
                "benefit_status",
                "measures",
                "course_obligation",
                "integration_plan_goals",
            ],
            "directions": ["municipality_asks_jobcenter", "jobcenter_asks_municipality"],
            "valid_until": (date.today() + timedelta(days=180)).isoformat(),
            "language": "de",
            "evidence": {"channel": "paper_signature"},
            **changes,
        }
        response = self.client.post("/v1/consents", json=body, headers=self.manager)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def ask(
        self,
        question: str,
        purpose: str,
        *,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> Any:
        self._keys += 1
        return self.client.post(
            "/v1/queries",
            json={"subject_id": self.subject, "question": question, "purpose": purpose, **extra},
            headers={**(headers or self.manager), "Idempotency-Key": key or f"key-{self._keys}"},
        )
