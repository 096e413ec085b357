"""One-time verification codes for the phone: issued to the integration manager, checked by
jobcenter staff; single use, short-lived, rate limited, only a keyed hash stored, every issue
and check audited, repeated wrong codes lock the user out."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from gateway.bootstrap import Container
from gateway.clock import utcnow
from gateway.consents.models import VerificationCode
from gateway.database import unit_of_work
from gateway.organisations import service
from gateway.organisations.models import Role
from tests.consents.conftest import EventsOf
from tests.support import PERSON, Desk, World

UNAMBIGUOUS = re.compile(
    r"^[ABCDEFGHJKMNPQRSTVWXYZ23456789]{4}-[ABCDEFGHJKMNPQRSTVWXYZ23456789]{4}$"
)


def _issue(desk: Desk, consent_id: str, headers: dict[str, str] | None = None) -> Any:
    return desk.client.post(
        f"/v1/consents/{consent_id}/verification-code", headers=headers or desk.manager
    )


def _check(desk: Desk, code: str, headers: dict[str, str] | None = None) -> Any:
    return desk.client.get(
        "/v1/consents/verify", params={"code": code}, headers=headers or desk.staff
    )


def test_issue_and_check_once(desk: Desk, container: Container, events_of: EventsOf) -> None:
    consent = desk.consent()
    issued = _issue(desk, consent["id"])
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    code = issued.json()["code"]
    assert UNAMBIGUOUS.match(code)
    with Session(container.engine) as session:
        row = session.exec(select(VerificationCode)).one()
        assert code.replace("-", "") not in row.code_hash
        assert len(row.code_hash) == 64
    event = events_of("consent.verification_code_issued")[-1]
    assert event["consent"] == consent["id"]
    assert code not in json.dumps(event)

    checked = _check(desk, code.lower().replace("-", " "))
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["consent_id"] == consent["id"]
    assert body["subject_id"] == desk.subject
    assert body["status"] == "active"
    assert body["purposes"] == consent["purposes"]
    assert body["categories"] == consent["categories"]
    assert body["directions"] == consent["directions"]
    assert body["grantee"]["id"] == desk.world.municipality
    assert body["jobcenter"]["id"] == desk.world.jobcenter
    assert body["valid_until"]
    text = json.dumps(body)
    for value in PERSON.values():
        assert value not in text, "nothing about the person but the pseudonym"
    verified = events_of("consent.verified")[-1]
    assert verified["consent"] == consent["id"]
    assert verified["actor"]["user"] == desk.world.staff

    again = _check(desk, code)
    assert again.status_code == 404
    assert again.json()["type"] == "/problems/verification-code-invalid"
    assert events_of("consent.verification_failed")[-1]["reasons"] == ["used"]


def test_an_expired_code(desk: Desk, container: Container, events_of: EventsOf) -> None:
    consent = desk.consent()
    code = _issue(desk, consent["id"]).json()["code"]
    with unit_of_work(container.engine) as session:
        row = session.exec(select(VerificationCode)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    response = _check(desk, code)
    assert response.status_code == 404
    assert events_of("consent.verification_failed")[-1]["reasons"] == ["expired"]


def test_only_the_consents_jobcenter_may_check_and_nobody_learns_of_it(
    desk: Desk, client: TestClient, world: World, events_of: EventsOf
) -> None:
    consent = desk.consent()
    code = _issue(desk, consent["id"]).json()["code"]
    other_staff = world.other_jobcenter_system.bearer(client, user_id=world.other_staff)
    response = _check(desk, code, headers=other_staff)
    assert response.status_code == 404
    failed = events_of("consent.verification_failed")[-1]
    assert failed["reasons"] == ["other_jobcenter"]
    assert "consent" not in failed
    assert "subject" not in failed
    # The code was not used up by the wrong jobcenter.
    assert _check(desk, code).status_code == 200


def test_who_may_issue_and_check(desk: Desk, client: TestClient, world: World) -> None:
    consent = desk.consent()
    for headers in [*world.strangers(client), desk.staff]:
        response = _issue(desk, consent["id"], headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["type"] == "/problems/consent-not-found"
    code = _issue(desk, consent["id"]).json()["code"]
    refused = _check(desk, code, headers=desk.manager)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/jobcenter-staff-only"
    assert _check(desk, code).status_code == 200


def test_only_an_active_consent_gets_a_code(desk: Desk) -> None:
    consent = desk.consent()
    desk.client.post(
        f"/v1/consents/{consent['id']}/pause", json={"reason": "x"}, headers=desk.manager
    )
    refused = _issue(desk, consent["id"])
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/consent-not-active"


def test_a_checked_consent_shows_its_current_status(desk: Desk) -> None:
    consent = desk.consent()
    code = _issue(desk, consent["id"]).json()["code"]
    desk.client.post(
        f"/v1/consents/{consent['id']}/revoke", json={"channel": "phone"}, headers=desk.manager
    )
    body = _check(desk, code).json()
    assert body["status"] == "withdrawn"
    assert body["status_reason"]["code"] == "withdrawn_by_person"


def test_issuing_is_rate_limited_per_consent(desk: Desk, container: Container) -> None:
    consent = desk.consent()
    limit = container.settings.consent_verification_codes_per_hour
    for _ in range(limit):
        assert _issue(desk, consent["id"]).status_code == 201
    over = _issue(desk, consent["id"])
    assert over.status_code == 429
    assert over.json()["type"] == "/problems/verification-code-rate-limited"
    other = desk.consent(purposes=["benefit_coordination"], categories=["benefit_status"])
    assert _issue(desk, other["id"]).status_code == 201


def test_repeated_wrong_codes_lock_the_user_out(
    desk: Desk, client: TestClient, world: World, container: Container, events_of: EventsOf
) -> None:
    consent = desk.consent()
    code = _issue(desk, consent["id"]).json()["code"]
    attempts = container.settings.consent_verification_lockout_attempts
    for attempt in range(1, attempts + 1):
        wrong = _check(desk, "ZZZZ-ZZZZ" if attempt % 2 else "short")
        assert wrong.status_code == 404
        assert events_of("consent.verification_failed")[-1]["details"] == {"failures": attempt}
    locked = events_of("consent.verification_locked")
    assert len(locked) == 1
    assert locked[0]["actor"]["user"] == world.staff

    refused = _check(desk, code)
    assert refused.status_code == 429
    assert refused.json()["type"] == "/problems/verification-locked"
    assert refused.json()["locked_until"]
    assert events_of("consent.verification_refused")[-1]["reasons"] == ["locked"]
    # A colleague is not locked out; the code is still unused.
    colleague = world.jobcenter_system.bearer(client, user_id=_colleague(container, world))
    assert _check(desk, code, headers=colleague).status_code == 200


def _colleague(container: Container, world: World) -> str:
    with unit_of_work(container.engine) as session:
        return service.add_user(
            session,
            audit=container.audit,
            organisation_id=world.jobcenter,
            role=Role.JOBCENTER_STAFF,
            name="Colleague",
            email="colleague@jobcenter.example",
        ).id
