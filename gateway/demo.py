"""Demo data: the organisations, people and case-system client of the README walk-through.

Idempotent: running it again finds what exists and adds only what is missing.
The demo client's private key is written to ``<data_dir>/demo/``; only its
public half is registered, exactly as a real case system would do.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlmodel import Session

from gateway.audit.service import AuditTrail
from gateway.auth import registration
from gateway.auth import repository as clients_repository
from gateway.auth.rfc7523 import CLIENT_ASSERTION_TYPE, JWT_BEARER_GRANT
from gateway.organisations import repository, service
from gateway.organisations.models import Organisation, OrganisationKind, Role, User
from gateway.web.accounts import PasswordAccounts


@dataclass(frozen=True)
class DemoOrganisation:
    kind: OrganisationKind
    name: str
    key: str
    parent_key: str | None = None


ORGANISATIONS = (
    DemoOrganisation(OrganisationKind.OPERATOR, "Gateway-Betrieb (Demo)", "OPERATOR-DEMO"),
    DemoOrganisation(OrganisationKind.DISTRICT, "Landratsamt Heilbronn", "08125"),
    DemoOrganisation(OrganisationKind.MUNICIPALITY, "Stadt Brackenheim", "08125013", "08125"),
    DemoOrganisation(OrganisationKind.JOBCENTER, "Jobcenter Landkreis Heilbronn", "JC-08125"),
)

USERS = (
    ("08125013", Role.INTEGRATION_MANAGER, "Miriam Demir", "integration@brackenheim.example"),
    ("08125013", Role.DPO, "Dr. Jonas Weber", "datenschutz@brackenheim.example"),
    ("JC-08125", Role.JOBCENTER_STAFF, "Petra Schneider", "team.integration@jobcenter-hn.example"),
    ("OPERATOR-DEMO", Role.ADMIN, "Operator", "operator@gateway.example"),
)


@dataclass(frozen=True)
class DemoClient:
    slug: str
    name: str
    organisation_key: str
    scopes: str


CLIENTS = (
    DemoClient(
        "case-system",
        "Demo-Fallsystem Stadt Brackenheim",
        "08125013",
        "consents:read consents:write queries:ask queries:answer audit:read",
    ),
    DemoClient(
        "jobcenter-system",
        "Demo-Fachverfahren Jobcenter Landkreis Heilbronn",
        "JC-08125",
        "consents:read consents:write queries:ask queries:answer",
    ),
)


def demo_key_path(data_dir: Path, slug: str = "case-system") -> Path:
    return data_dir / "demo" / f"{slug}.private.jwk.json"


def demo_passwords_path(data_dir: Path) -> Path:
    return data_dir / "demo" / "web-passwords.json"


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON file only its owner may read (demo keys and passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)


def _web_passwords(
    session: Session, *, accounts: PasswordAccounts, users: dict[str, User], data_dir: Path
) -> dict[str, str]:
    """Generated sign-in passwords of the demo users, kept in the data directory.

    Nothing is fixed in the repository: each data directory gets its own
    passwords, and a user whose password was set otherwise keeps it.
    """
    path = demo_passwords_path(data_dir)
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    passwords: dict[str, str] = {}
    for user in users.values():
        known = stored.get(user.email)
        if known is None or user.password_hash is None:
            known = secrets.token_urlsafe(12)
            accounts.set_password(session, user_id=user.id, password=known)
        passwords[user.email] = known
    _write_private(path, passwords)
    return passwords


def seed(
    session: Session, *, audit: AuditTrail, accounts: PasswordAccounts, data_dir: Path
) -> dict[str, Any]:
    organisations: dict[str, Organisation] = {}
    for item in ORGANISATIONS:
        found = repository.find_organisation_by_key(session, item.key)
        if found is None:
            parent = organisations.get(item.parent_key) if item.parent_key else None
            found = service.add_organisation(
                session,
                audit=audit,
                kind=item.kind,
                name=item.name,
                official_key=item.key,
                parent_id=parent.id if parent else None,
            )
        organisations[item.key] = found

    users: dict[str, User] = {}
    for org_key, role, name, email in USERS:
        user = repository.find_user_by_email(session, email)
        if user is None:
            user = service.add_user(
                session,
                audit=audit,
                organisation_id=organisations[org_key].id,
                role=role,
                name=name,
                email=email,
            )
        users[role.value] = user

    clients: dict[str, dict[str, str]] = {}
    for demo_client in CLIENTS:
        key_path = demo_key_path(data_dir, demo_client.slug)
        client = next(
            (c for c in clients_repository.list_clients(session) if c.name == demo_client.name),
            None,
        )
        if client is None or not key_path.exists():
            key = ECKey.generate_key("P-256", parameters={"kid": f"demo-{demo_client.slug}-1"})
            public = {"keys": [{**key.as_dict(private=False), "use": "sig", "alg": "ES256"}]}
            if client is not None:  # the key file was lost: retire the client, make a new one
                client.enabled = False
                session.add(client)
            client, _ = registration.add_client(
                session,
                audit=audit,
                organisation_id=organisations[demo_client.organisation_key].id,
                name=demo_client.name,
                scopes=demo_client.scopes,
                jwks=public,
            )
            _write_private(key_path, {"client_id": client.id, "jwk": key.as_dict(private=True)})
        clients[demo_client.slug] = {"client_id": client.id, "private_key": str(key_path)}

    passwords = _web_passwords(session, accounts=accounts, users=users, data_dir=data_dir)
    return {
        "organisations": {
            item.key: {"id": organisations[item.key].id, "name": item.name, "kind": item.kind.value}
            for item in ORGANISATIONS
        },
        "users": {
            role: {
                "id": user.id,
                "email": user.email,
                "organisation_id": user.organisation_id,
                "web_password": passwords[user.email],
            }
            for role, user in users.items()
        },
        "clients": clients,
    }


def signed_assertion(
    *, key_file: Path, audience: str, subject: str | None = None, lifetime: int = 60
) -> tuple[str, str]:
    """A client assertion (or, with ``subject``, a JWT bearer grant) signed with the demo key."""
    stored = json.loads(key_file.read_text(encoding="utf-8"))
    key = ECKey.import_key(stored["jwk"])
    client_id = str(stored["client_id"])
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": subject or client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    return client_id, jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def token_request_form(
    *, key_file: Path, token_endpoint: str, user_id: str | None
) -> dict[str, str]:
    client_id, client_assertion = signed_assertion(key_file=key_file, audience=token_endpoint)
    form = {
        "client_id": client_id,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion,
    }
    if user_id is None:
        form["grant_type"] = "client_credentials"
    else:
        _, grant = signed_assertion(key_file=key_file, audience=token_endpoint, subject=user_id)
        form["grant_type"] = JWT_BEARER_GRANT
        form["assertion"] = grant
    return form


def walkthrough(summary: dict[str, Any], *, issuer: str) -> str:
    """Copy-paste curl commands for one query from ask to answer, printed by ``gateway demo``."""
    manager = summary["users"]["integration_manager"]["id"]
    staff = summary["users"]["jobcenter_staff"]["id"]
    jobcenter = summary["organisations"]["JC-08125"]["id"]
    until = (date.today() + timedelta(days=365)).isoformat()
    return f"""One query from ask to answer (needs curl and jq, and the gateway running):

  IM=$(.venv/bin/gateway demo-token --raw --user {manager})
  JC=$(.venv/bin/gateway demo-token --raw --client jobcenter-system --user {staff})
  SUBJECT=$(curl -s {issuer}/v1/subjects -H "Authorization: Bearer $IM" \\
    -H 'Content-Type: application/json' \\
    -d '{{"given_name": "Olena", "family_name": "Beispielenko", "birth_date": "1985-11-03"}}' \\
    | jq -r .id)
  CONSENT=$(curl -s {issuer}/v1/consents -H "Authorization: Bearer $IM" \\
    -H 'Content-Type: application/json' -d '{{"subject_id": "'$SUBJECT'",
      "jobcenter_id": "{jobcenter}", "purposes": ["benefit_coordination"],
      "categories": ["benefit_status"], "directions": ["municipality_asks_jobcenter"],
      "valid_until": "{until}", "language": "uk",
      "evidence": {{"channel": "paper_signature"}}}}' | jq -r .id)
  QUERY=$(curl -s {issuer}/v1/queries -H "Authorization: Bearer $IM" \\
    -H 'Content-Type: application/json' -H "Idempotency-Key: $(date +%s%N)" \\
    -d '{{"subject_id": "'$SUBJECT'", "question": "benefit_status",
      "purpose": "benefit_coordination"}}' | jq -r .id)
  curl -s '{issuer}/v1/queries?status=open' -H "Authorization: Bearer $JC" | jq .
  curl -s {issuer}/v1/queries/$QUERY/answer -H "Authorization: Bearer $JC" \\
    -H 'Content-Type: application/json' \\
    -d '{{"answer": {{"receives_benefit": true, "approved_until": "2027-03-31"}}}}' | jq .status
  curl -s {issuer}/v1/queries/$QUERY -H "Authorization: Bearer $IM" | jq .answer
  curl -s {issuer}/v1/consents/$CONSENT/receipt -H "Authorization: Bearer $IM" \\
    -H 'Accept: text/html' > receipt.html
  .venv/bin/gateway audit verify

API documentation: {issuer}/docs"""
