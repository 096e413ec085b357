"""Finding 12 of issue 15: the printable receipt and the API's personal data lacked headers.

The receipt from ``GET /v1/consents/{id}/receipt`` (Accept: text/html) carries
the self-service code and its QR, yet came without the pages' CSP,
frame-ancestors and nosniff; JSON with personal data came without
``Cache-Control: no-store``; no HSTS when the issuer is https. Now one
middleware sets them on every response, generated here from the route table.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response

from gateway.app import create_app
from gateway.bootstrap import Container
from tests.support import Desk, World

# Public and meant to be cached by clients (RFC 7517 key sets rotate slowly).
CACHEABLE = {"/.well-known/jwks.json", "/about/licences/kern-ux"}


def _frames_refused(response: Response) -> None:
    policies = response.headers.get_list("content-security-policy")
    assert len(policies) == 1, policies
    assert "frame-ancestors 'none'" in policies[0]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_printable_receipt_and_personal_data_are_neither_framed_sniffed_nor_stored(
    client: TestClient, world: World
) -> None:
    desk = Desk(client, world)
    consent = desk.consent()
    receipt = client.get(
        f"/v1/consents/{consent['id']}/receipt", headers={**desk.manager, "Accept": "text/html"}
    )
    assert receipt.status_code == 200
    assert receipt.headers["content-type"].startswith("text/html")
    _frames_refused(receipt)
    policy = receipt.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'self'" in policy
    query = desk.ask("benefit_status", "benefit_coordination").json()
    for response in (
        receipt,
        client.get(f"/v1/queries/{query['id']}", headers=desk.staff),
        client.get(f"/v1/consents?subject={desk.subject}", headers=desk.manager),
        client.get("/v1/me", headers=desk.manager),
        client.get("/v1/queries/unknown", headers=desk.manager),
    ):
        assert response.headers["cache-control"] == "no-store", response.url
        assert response.headers["x-content-type-options"] == "nosniff"


def test_every_route_answers_with_the_headers(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    checked = 0
    for context in iter_route_contexts(app.routes):
        methods = context.methods or set()
        if "GET" not in methods:
            continue
        path = str(context.path_format)
        for name in context.param_convertors:
            path = path.replace("{" + name + "}", "1")
        response = client.get(path, follow_redirects=False)
        assert response.headers["x-content-type-options"] == "nosniff", path
        if str(context.path) in CACHEABLE:
            assert "max-age" in response.headers["cache-control"], path
        else:
            assert response.headers["cache-control"] == "no-store", path
        if response.headers.get("content-type", "").startswith("text/html"):
            _frames_refused(response)
        assert "strict-transport-security" not in response.headers, "the issuer is http"
        checked += 1
    assert checked > 30
    # Static assets keep their validators: nothing personal in a stylesheet.
    asset = client.get("/static/web/web.css")
    assert asset.status_code == 200
    assert asset.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in asset.headers.get("cache-control", "")


def test_an_https_issuer_gets_strict_transport_security(container: Container) -> None:
    settings = container.settings.model_copy(update={"issuer": "https://gateway.example"})
    with TestClient(create_app(settings, container=container)) as client:
        for path in ("/v1/catalogue", "/web/signin", "/.well-known/jwks.json", "/nowhere"):
            response = client.get(path)
            hsts = response.headers.get("strict-transport-security", "")
            assert hsts.startswith("max-age="), path
            assert int(hsts.split("=")[1].split(";")[0]) >= 365 * 24 * 3600
