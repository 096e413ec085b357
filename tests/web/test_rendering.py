"""What every page carries: security headers, its language and direction, CSRF in its forms."""

from __future__ import annotations

from gateway.web.rendering import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from tests.web.conftest import Case, Site
from tests.web.pages import Browser, Page, confirmation_path, page_routes, record_consent

# The printable receipt brings its own print styles inline; nothing else differs.
RECEIPT_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)


def _problems(url: str, page: Page, token: str | None) -> list[str]:
    problems = []
    policy = RECEIPT_POLICY if url.endswith("/receipt") else CONTENT_SECURITY_POLICY
    expected = {**SECURITY_HEADERS, "Content-Security-Policy": policy}
    if url == "/about/licences/kern-ux":
        expected["Cache-Control"] = "max-age=3600"  # a public licence text, the same for all
    for header, value in expected.items():
        if page.response.headers.get(header) != value:
            problems.append(f"{url}: {header} is {page.response.headers.get(header)!r}")
    if not page.response.headers.get("content-type", "").startswith("text/html"):
        return problems
    if url.endswith("/receipt"):
        return problems  # the receipt document of gateway.consents.receipts
    root = page.root
    if not root.attrs.get("lang") or root.attrs.get("dir") not in {"ltr", "rtl"}:
        problems.append(f"{url}: <html> without lang and dir")
    for form in page.doc.find_all("form"):
        if form.attrs.get("method", "get").lower() != "post":
            continue
        field = form.find("input", name="csrf_token")
        if field is None or not field.attrs.get("value"):
            problems.append(f"{url}: a form posting to {form.attrs.get('action')} has no token")
        elif token is not None and field.attrs["value"] != token:
            problems.append(f"{url}: a form carries another token than the session's")
    return problems


def test_every_page_sends_security_headers_and_protects_its_forms(site: Site, case: Case) -> None:
    manager = site.signed_in(site.world.manager)
    ids = {
        "subject_id": case.subject,
        "consent_id": case.consent,
        "query_id": case.query,
        "seq": str(case.consent_event),
        "code": case.code,
        "token": confirmation_path(
            record_consent(manager, case.subject, channel="own_phone")
        ).rsplit("/", 1)[1],
    }
    readers = {
        "/web/audit": site.world.dpo,
        "/web/inbox": site.world.staff,
        "/web": site.world.manager,
    }
    tokens = {user_id: site.csrf_token(user_id) for user_id in readers.values()}
    anonymous = site.browser()
    routes = page_routes(site.app, "/web", "/self-service", "/confirm", "/about")
    assert len(routes) > 30
    problems: list[str] = []
    seen = 0

    for route in routes:
        if "GET" not in route.methods or route.path == "/web/language/{language}":
            continue
        url = route.path.format(**{name: ids[name] for name in route.params})
        reader = next((u for p, u in readers.items() if route.path.startswith(p)), None)
        browser: Browser = site.signed_in(reader) if reader else anonymous
        page = browser.get(url)
        if page.status in {301, 302, 303, 307}:
            continue
        seen += 1
        # The sign-in form has the double-submit token of its cookie, not a session's.
        token = tokens[reader] if reader and route.path != "/web/signin" else None
        problems.extend(_problems(url, page, token))

    # Error pages too: not found, not allowed, and an expired form.
    for browser, url in (
        (manager, "/web/persons/sub_000000000000000000000000"),
        (manager, "/web/audit"),
        (anonymous, "/self-service/ABCD-EFGH-JKMN-PQRS"),
    ):
        page = browser.get(url)
        assert page.status in {403, 404}
        seen += 1
        problems.extend(_problems(url, page, None))
    expired = manager.post(f"/web/consents/{case.consent}/revoke", {"channel": "phone"})
    assert expired.status == 403
    problems.extend(_problems("expired form", expired, None))

    assert problems == []
    assert seen >= 25


def test_the_language_choice_of_staff_pages(site: Site) -> None:
    browser = site.browser(language="en")
    assert browser.get("/web/signin").root.attrs["lang"] == "en"
    chosen = browser.get("/web/language/de", next="/web/signin")
    assert chosen.status == 303
    assert chosen.location == "/web/signin"
    assert browser.get("/web/signin").root.attrs["lang"] == "de"
    # Only offered languages, and only our own pages as the next page.
    assert browser.get("/web/language/xx").location == "/web"
    assert browser.get("/web/signin").root.attrs["lang"] == "de"
    assert browser.get("/web/language/en", next="https://evil.example").location == "/web"
