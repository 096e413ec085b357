"""The consent flow through the API: record, confirm, read, receipt, amend, revoke, expire."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.audit.models import AuditEventRow
from gateway.bootstrap import Container
from gateway.clock import utcnow
from gateway.consents.models import Consent
from gateway.database import unit_of_work
from tests.support import World

PERSON = {"given_name": "Amina", "family_name": "Haddad", "birth_date": "1988-02-29"}


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def consent_body(subject_id: str, jobcenter_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject_id": subject_id,
        "jobcenter_id": jobcenter_id,
        "purposes": ["benefit_coordination", "appointment_coordination"],
        "categories": ["benefit_status", "assigned_contact", "appointments"],
        "directions": ["municipality_asks_jobcenter"],
        "valid_until": in_days(365),
        "language": "ar",
        "evidence": {"channel": "paper_signature"},
    }
    body.update(changes)
    return body


class Flow:
    def __init__(self, client: TestClient, world: World) -> None:
        self.client = client
        self.world = world
        self.manager = world.case_system.bearer(client, user_id=world.manager)
        self.staff = world.jobcenter_system.bearer(client, user_id=world.staff)
        self.subject = client.post("/v1/subjects", json=PERSON, headers=self.manager).json()["id"]

    def record(self, **changes: Any) -> Any:
        return self.client.post(
            "/v1/consents",
            json=consent_body(self.subject, self.world.jobcenter, **changes),
            headers=self.manager,
        )


@pytest.fixture
def flow(client: TestClient, world: World) -> Flow:
    return Flow(client, world)


def _events(container: Container, kind: str) -> int:
    with Session(container.engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(AuditEventRow)
                .where(AuditEventRow.event_type == kind)
            ).one()
        )


def test_record_read_and_list(flow: Flow, container: Container) -> None:
    response = flow.record()
    assert response.status_code == 201, response.text
    consent = response.json()
    assert consent["status"] == "active"
    assert consent["grantee_id"] == flow.world.municipality
    assert consent["text_version"]
    assert len(consent["text_sha256"]) == 64
    assert _events(container, "consent.granted") == 1

    read = flow.client.get(f"/v1/consents/{consent['id']}", headers=flow.manager)
    assert read.json()["id"] == consent["id"]
    by_jobcenter = flow.client.get(f"/v1/consents/{consent['id']}", headers=flow.staff)
    assert by_jobcenter.status_code == 200
    listed = flow.client.get("/v1/consents", params={"subject": flow.subject}, headers=flow.staff)
    assert [item["id"] for item in listed.json()["items"]] == [consent["id"]]


def test_text_hash_is_the_hash_of_the_text_shown(flow: Flow) -> None:
    terms = {
        "language": "uk",
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "directions": ["municipality_asks_jobcenter"],
        "jobcenter_id": flow.world.jobcenter,
        "valid_until": in_days(100),
    }
    shown = flow.client.post("/v1/consent-texts", json=terms, headers=flow.manager).json()
    assert hashlib.sha256(shown["text"].encode()).hexdigest() == shown["sha256"]
    body = {k: v for k, v in terms.items() if k != "jobcenter_id"}
    ok = flow.record(
        **body,
        evidence={
            "channel": "screen_signature",
            "text_sha256": shown["sha256"],
            "text_version": shown["version"],
        },
    )
    assert ok.status_code == 201
    assert ok.json()["text_sha256"] == shown["sha256"]
    wrong = flow.record(**body, evidence={"channel": "screen_signature", "text_sha256": "0" * 64})
    assert wrong.status_code == 422
    assert wrong.json()["type"] == "/problems/text-mismatch"


@pytest.mark.parametrize(
    ("changes", "slug"),
    [
        ({"purposes": ["astrology"]}, "unknown-purpose"),
        ({"categories": ["shoe_size"]}, "unknown-category"),
        ({"categories": ["health"]}, "category-not-allowed-for-purpose"),
        (
            {"purposes": ["measures_and_courses"], "categories": ["measures", "health"]},
            "special-category-not-explicit",
        ),
        ({"valid_until": in_days(2000)}, "validity-too-long"),
        ({"valid_until": in_days(-1)}, "validity-in-past"),
        ({"language": "xx"}, "unsupported-language"),
        ({"use_limits": {"integration_plan_goals": 2}}, "invalid-use-limit"),
    ],
)
def test_invalid_consents_are_problems_and_change_nothing(
    flow: Flow, container: Container, changes: dict[str, Any], slug: str
) -> None:
    before = _events(container, "consent.granted")
    response = flow.record(**changes)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"/problems/{slug}"
    assert _events(container, "consent.granted") == before
    with Session(container.engine) as session:
        assert session.exec(select(func.count()).select_from(Consent)).one() == 0


def test_special_categories_with_explicit_consent(flow: Flow) -> None:
    response = flow.record(
        purposes=["measures_and_courses"],
        categories=["measures", "health"],
        explicit_special_categories=["health"],
    )
    assert response.status_code == 201
    assert response.json()["explicit_special_categories"] == ["health"]


def test_own_phone_stays_pending_until_the_person_confirms(
    flow: Flow, container: Container
) -> None:
    response = flow.record(evidence={"channel": "own_phone"})
    consent = response.json()
    assert consent["status"] == "pending"
    token = consent["confirmation_url"].rsplit("/", 1)[1]
    shown = flow.client.get(f"/v1/confirmations/{token}").json()
    assert shown["direction"] == "rtl"
    assert hashlib.sha256(shown["text"].encode()).hexdigest() == consent["text_sha256"]
    confirmed = flow.client.post(f"/v1/confirmations/{token}")
    assert confirmed.json()["status"] == "active"
    again = flow.client.post(f"/v1/confirmations/{token}")
    assert again.status_code == 404
    assert again.json()["type"] == "/problems/confirmation-unknown"
    assert _events(container, "consent.confirmed") == 1


def test_an_expired_confirmation_link(flow: Flow, container: Container) -> None:
    consent = flow.record(evidence={"channel": "own_phone"}).json()
    token = consent["confirmation_url"].rsplit("/", 1)[1]
    with unit_of_work(container.engine) as session:
        row = session.get(Consent, consent["id"])
        assert row is not None
        row.confirmation_expires_at = utcnow() - timedelta(minutes=1)
        session.add(row)
    response = flow.client.post(f"/v1/confirmations/{token}")
    assert response.status_code == 410
    assert response.json()["type"] == "/problems/confirmation-link-expired"
    assert (
        flow.client.get(f"/v1/consents/{consent['id']}", headers=flow.manager).json()["status"]
        == "pending"
    )


def test_receipt_verifies_with_the_jwks_alone(flow: Flow) -> None:
    consent = flow.record().json()
    receipt = flow.client.get(f"/v1/consents/{consent['id']}/receipt", headers=flow.manager).json()
    jwks = flow.client.get("/.well-known/jwks.json").json()
    # With a JOSE library ...
    verified = jws.deserialize_compact(
        receipt["jws"], KeySet.import_key_set(jwks), algorithms=["Ed25519"]
    )
    claims = json.loads(verified.payload)
    assert claims["consent_id"] == consent["id"]
    assert claims["subject"] == flow.subject
    assert "Amina" not in verified.payload.decode()
    # ... and with nothing but cryptography.
    header_b64, payload_b64, signature_b64 = receipt["jws"].split(".")

    def b64(value: str) -> bytes:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))

    kid = json.loads(b64(header_b64))["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    Ed25519PublicKey.from_public_bytes(b64(jwk["x"])).verify(
        b64(signature_b64), f"{header_b64}.{payload_b64}".encode()
    )


@pytest.mark.parametrize("language", ["de", "en", "uk", "ar", "fa", "ru", "tr"])
def test_printable_receipt_in_every_language(
    flow: Flow, container: Container, language: str
) -> None:
    consent = flow.record(language=language).json()
    page = flow.client.get(
        f"/v1/consents/{consent['id']}/receipt", headers={**flow.manager, "Accept": "text/html"}
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    direction = "rtl" if language in {"ar", "fa"} else "ltr"
    assert f'<html lang="{language}" dir="{direction}">' in html
    assert f'data-text-sha256="{consent["text_sha256"]}"' in html
    labels = container.consent_texts.get(language).sections["receipt"]
    assert f"<dd>{labels['statuses']['active']}</dd>" in html  # never the status code itself
    assert f"<dd>{labels['given_by_person']}</dd>" in html
    assert "<svg" in html
    terms = {
        "language": language,
        "purposes": consent["purposes"],
        "categories": consent["categories"],
        "directions": consent["directions"],
        "jobcenter_id": flow.world.jobcenter,
        "valid_until": consent["valid_until"][:10] if False else in_days(365),
    }
    shown = flow.client.post("/v1/consent-texts", json=terms, headers=flow.manager).json()
    assert shown["sha256"] == consent["text_sha256"]


def test_withdraw_and_revoke_from_each_side(flow: Flow, container: Container) -> None:
    by_manager = flow.record().json()
    withdrawn = flow.client.post(
        f"/v1/consents/{by_manager['id']}/revoke",
        json={"channel": "in_person"},
        headers=flow.manager,
    )
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["revocation_channel"] == "integration_manager"
    twice = flow.client.post(
        f"/v1/consents/{by_manager['id']}/revoke",
        json={"channel": "case_system"},
        headers=flow.manager,
    )
    assert twice.status_code == 409
    assert twice.json()["type"] == "/problems/consent-already-revoked"

    by_jobcenter = flow.record().json()
    revoked = flow.client.post(
        f"/v1/consents/{by_jobcenter['id']}/revoke",
        json={"channel": "case_system", "reason": "moved away"},
        headers=flow.staff,
    )
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["revocation_channel"] == "jobcenter"

    by_person = flow.record().json()
    receipt = flow.client.get(
        f"/v1/consents/{by_person['id']}/receipt", headers=flow.manager
    ).json()
    code = receipt["self_service_code"]
    mine = flow.client.get(f"/v1/self-service/{code.lower()}").json()
    assert mine["consent"]["id"] == by_person["id"]
    assert any(access["type"] == "consent.granted" for access in mine["accesses"])
    assert flow.client.post(f"/v1/self-service/{code}/revoke").json()["status"] == "withdrawn"
    assert flow.client.get(f"/v1/self-service/{code}").json()["consent"]["status_reason"] == {
        "code": "withdrawn_by_person",
        "text": "The person withdrew the consent.",
    }
    assert flow.client.get("/v1/self-service/AAAA-BBBB-CCCC-DDDD").status_code == 404
    assert _events(container, "consent.revoked") == 3


def test_amendment_is_a_new_version(flow: Flow) -> None:
    original = flow.record().json()
    terms = {
        k: v
        for k, v in consent_body(flow.subject, flow.world.jobcenter).items()
        if k not in {"subject_id", "jobcenter_id"}
    }
    terms["purposes"] = ["benefit_coordination"]
    terms["categories"] = ["benefit_status"]
    amended = flow.client.post(
        f"/v1/consents/{original['id']}/amend", json=terms, headers=flow.manager
    )
    assert amended.status_code == 201, amended.text
    assert amended.json()["version"] == 2
    assert amended.json()["previous_id"] == original["id"]
    old = flow.client.get(f"/v1/consents/{original['id']}", headers=flow.manager).json()
    assert old["status"] == "superseded"
    assert old["purposes"] == original["purposes"], "never edited in place"


def test_expiry(flow: Flow, container: Container) -> None:
    consent = flow.record(valid_until=in_days(0)).json()
    with Session(container.engine) as session:
        assert container.consents.expire_due(session, now=utcnow() + timedelta(days=2)) == 1
        session.commit()
    assert (
        flow.client.get(f"/v1/consents/{consent['id']}", headers=flow.manager).json()["status"]
        == "expired"
    )
    assert _events(container, "consent.expired") == 1


def test_other_organisations_get_404_and_change_nothing(
    flow: Flow, client: TestClient, container: Container, world: World
) -> None:
    consent = flow.record().json()
    strangers = world.strangers(client)
    before = _events(container, "consent.revoked")
    for headers in strangers:
        for method, path, body in (
            ("GET", f"/v1/consents/{consent['id']}", None),
            ("GET", f"/v1/consents/{consent['id']}/receipt", None),
            ("POST", f"/v1/consents/{consent['id']}/revoke", {"channel": "phone"}),
            (
                "POST",
                f"/v1/consents/{consent['id']}/amend",
                {
                    k: v
                    for k, v in consent_body(flow.subject, world.jobcenter).items()
                    if k not in {"subject_id", "jobcenter_id"}
                },
            ),
        ):
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["type"] == "/problems/consent-not-found"
        listed = client.get("/v1/consents", params={"subject": flow.subject}, headers=headers)
        assert listed.json()["items"] == []
    assert _events(container, "consent.revoked") == before
    assert (
        client.get(f"/v1/consents/{consent['id']}", headers=flow.manager).json()["status"]
        == "active"
    )


def test_a_client_without_a_user_cannot_write_consents(
    flow: Flow, client: TestClient, world: World
) -> None:
    headers = world.case_system.bearer(client)
    response = client.post(
        "/v1/consents", json=consent_body(flow.subject, world.jobcenter), headers=headers
    )
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/user-required"
