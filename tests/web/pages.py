"""Helpers for page tests: a browser with its own cookies, parsed pages, forms, database state.

A ``Browser`` is a ``TestClient`` that keeps one person's cookies and follows
no redirects, so every test sees the status and ``Location`` a real browser
gets. ``Page`` parses the HTML with the standard library only and answers what
a person (or a screen reader) finds: the CSRF token of a form, the fields a
form would submit, the message next to a field (linked by
``aria-describedby``), the value a field shows again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from html.parser import HTMLParser
from typing import Any

from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as sql_select

from gateway.audit.models import AuditEventRow

PASSWORD = "correct horse battery staple"
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
# Compared by row count only: sessions are touched on reads (last_seen_at); the audit
# tables are append-only (the database refuses UPDATE and DELETE), so a count is exact.
COUNTED_TABLES = frozenset({"web_sessions", "audit_events", "audit_checkpoints"})

FormData = dict[str, str | list[str]]


# -- the router table -----------------------------------------------------------------


@dataclass(frozen=True)
class PageRoute:
    path: str
    methods: frozenset[str]
    params: tuple[str, ...]


def page_routes(app: FastAPI, *prefixes: str) -> list[PageRoute]:
    """The application's routes whose path starts with one of ``prefixes``.

    FastAPI keeps included routers as routes of their own; they are walked
    through, so the table is the one the application answers with.
    """

    def walk(routes: Sequence[Any], prefix: str) -> Iterator[PageRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield PageRoute(
                    path=prefix + route.path,
                    methods=frozenset(route.methods or ()),
                    params=tuple(route.param_convertors),
                )
                continue
            included = getattr(route, "original_router", None)
            if included is not None:
                context = getattr(route, "include_context", None)
                yield from walk(included.routes, prefix + str(getattr(context, "prefix", "")))

    return sorted(
        (r for r in walk(app.routes, "") if r.path.startswith(prefixes)), key=lambda r: r.path
    )


# -- HTML ----------------------------------------------------------------------------


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        wanted = {key.rstrip("_").replace("_", "-"): value for key, value in attrs.items()}
        return [
            element
            for element in self.iter()
            if (tag is None or element.tag == tag)
            and all(element.attrs.get(key) == value for key, value in wanted.items())
        ]

    def find(self, tag: str | None = None, **attrs: str) -> Element | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def by_id(self, element_id: str) -> Element | None:
        return self.find(id=element_id)

    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child.text() if isinstance(child, Element) else child)
        return " ".join(" ".join(parts).split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {key: value or "" for key, value in attrs})
        self._stack[-1].children.append(element)
        if tag not in VOID:
            self._stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack[-1].children.append(Element(tag, {key: value or "" for key, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == tag:
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].children.append(data)


def parse_html(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def field_id(name: str) -> str:
    """The id the templates give the control of a field (``macros.html``)."""
    return "f-" + name.replace(".", "-")


class Page:
    """One response of the site, with what a person finds on it."""

    def __init__(self, response: Response) -> None:
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def html(self) -> str:
        return self.response.text

    @property
    def location(self) -> str:
        return str(self.response.headers.get("location", ""))

    @cached_property
    def doc(self) -> Element:
        return parse_html(self.response.text)

    @property
    def root(self) -> Element:
        found = self.doc.find("html")
        assert found is not None, self.html[:500]
        return found

    def main_text(self) -> str:
        main = self.doc.find("main")
        assert main is not None, self.html[:500]
        return main.text()

    def form(self, action: str) -> Element:
        for form in self.doc.find_all("form"):
            if form.attrs.get("action", "").split("?")[0] == action.split("?")[0]:
                return form
        raise AssertionError(f"no form posting to {action} on the page: {self.html[:800]}")

    def csrf_token(self, action: str | None = None) -> str:
        scope = self.form(action) if action else self.doc
        token = scope.find("input", name="csrf_token")
        assert token is not None, "the form carries no csrf_token"
        return token.attrs["value"]

    def form_data(self, action: str) -> FormData:
        """What the form would submit as it is shown: hidden and typed values, choices made."""
        data: FormData = {}

        def add(name: str, value: str) -> None:
            present = data.get(name)
            if present is None:
                data[name] = value
            elif isinstance(present, list):
                present.append(value)
            else:
                data[name] = [present, value]

        for element in self.form(action).iter():
            name = element.attrs.get("name")
            if not name:
                continue
            if element.tag == "input":
                kind = element.attrs.get("type", "text")
                if kind in {"checkbox", "radio"}:
                    if "checked" in element.attrs:
                        add(name, element.attrs.get("value", "on"))
                elif kind not in {"submit", "button"}:
                    add(name, element.attrs.get("value", ""))
            elif element.tag == "textarea":
                add(name, "".join(c for c in element.children if isinstance(c, str)))
            elif element.tag == "select":
                chosen = [o for o in element.find_all("option") if "selected" in o.attrs]
                if chosen:
                    add(name, chosen[0].attrs.get("value", ""))
        return data

    def value(self, name: str) -> str | list[str] | None:
        """The value a field shows: its text, its chosen option, or its ticked boxes."""
        controls = [e for e in self.doc.iter() if e.attrs.get("name") == name and e.tag != "button"]
        if not controls:
            return None
        first = controls[0]
        if first.tag == "input" and first.attrs.get("type") in {"checkbox", "radio"}:
            return [c.attrs.get("value", "") for c in controls if "checked" in c.attrs]
        if first.tag == "textarea":
            return "".join(c for c in first.children if isinstance(c, str))
        if first.tag == "select":
            chosen = [o for o in first.find_all("option") if "selected" in o.attrs]
            return chosen[0].attrs.get("value", "") if chosen else ""
        return first.attrs.get("value", "")

    def options(self, name: str) -> list[str] | None:
        """The values a choice field offers (None for a field one types into)."""
        controls = [e for e in self.doc.iter() if e.attrs.get("name") == name]
        if controls and controls[0].tag == "select":
            return [o.attrs.get("value", "") for o in controls[0].find_all("option")]
        if controls and controls[0].attrs.get("type") in {"checkbox", "radio"}:
            return [c.attrs.get("value", "") for c in controls]
        return None

    def shows_again(self, name: str, typed: str | Sequence[str]) -> bool:
        """Whether the field shows what was sent (as far as its options can show it)."""
        shown = self.value(name)
        offered = self.options(name)
        if offered is None:
            return shown == typed
        chosen = [typed] if isinstance(typed, str) else list(typed)
        kept = [value for value in chosen if value in offered]
        if isinstance(shown, list):
            return shown == kept
        return shown == (kept[0] if kept else "")

    def field_error(self, name: str) -> str | None:
        """The message shown next to a field, checked to be linked to its control.

        A message has the id ``<field id>-error``; the control (or the fieldset of a
        group of choices) names it in ``aria-describedby`` and is ``aria-invalid``.
        """
        control_id = field_id(name)
        message = self.doc.by_id(f"{control_id}-error")
        if message is None:
            return None
        control = self.doc.by_id(control_id)
        assert control is not None, f"the message of {name} belongs to no control"
        described = control.attrs.get("aria-describedby", "").split()
        assert f"{control_id}-error" in described, f"{name}: message not linked to its control"
        assert control.attrs.get("aria-invalid") == "true", f"{name} is not marked invalid"
        return message.text()

    def errors(self) -> dict[str, str]:
        """Every field message on the page, by the id of its control."""
        found = {}
        for element in self.doc.iter():
            element_id = element.attrs.get("id", "")
            if element_id.endswith("-error") and "kern-error" in element.attrs.get("class", ""):
                found[element_id.removesuffix("-error")] = element.text()
        return found


# -- the browser -----------------------------------------------------------------------


class Browser:
    """One person's browser: their own cookies, no redirects followed."""

    def __init__(
        self,
        app: FastAPI,
        *,
        base_url: str = "http://testserver",
        language: str = "en",
        portal: BlockingPortal | None = None,
    ) -> None:
        # Staff pages speak German unless the browser asks otherwise; msgids are English.
        self.http = TestClient(
            app,
            base_url=base_url,
            follow_redirects=False,
            headers={"Accept-Language": language},
        )
        # One event loop for many requests (without the app's lifespan and its ticker,
        # which would write to the database while tests compare it).
        self.http.portal = portal

    def get(self, url: str, **params: str) -> Page:
        return Page(self.http.get(url, params=params or None))

    def post(self, url: str, data: Mapping[str, str | Sequence[str]] | None = None) -> Page:
        return Page(self.http.post(url, data={k: v for k, v in (data or {}).items()}))

    def submit(self, page: Page, action: str, **changes: str | Sequence[str]) -> Page:
        """Send a form of a page as shown, with some fields changed (a list ticks several)."""
        data: dict[str, str | Sequence[str]] = {**page.form_data(action), **changes}
        return self.post(action, data)

    def sign_in(self, email: str, password: str = PASSWORD, *, next_path: str = "/web") -> Page:
        form = self.get("/web/signin", next=next_path)
        assert form.status == 200
        return self.submit(form, "/web/signin", email=email, password=password)

    def token_for(self, url: str, action: str | None = None) -> str:
        """The CSRF token in a form of a page (the session's, or the double-submit one)."""
        page = self.get(url)
        assert page.status == 200, (url, page.status)
        return page.csrf_token(action)

    def cookie(self, name: str) -> str | None:
        value = self.http.cookies.get(name)
        return str(value) if value is not None else None


def set_cookie_headers(response: Response) -> dict[str, str]:
    """``Set-Cookie`` headers by cookie name (the raw header, attributes and all)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0].strip()
        found[name] = header
    return found


def cookie_attributes(header: str) -> dict[str, str]:
    attributes = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


# -- the database as a whole ---------------------------------------------------------


def database_state(engine: Engine) -> dict[str, Any]:
    """Every row of every table (counts where that is exact or reads touch rows): equal means
    unchanged."""
    state: dict[str, Any] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in COUNTED_TABLES:
                state[table.name] = connection.execute(
                    select(func.count()).select_from(table)
                ).scalar_one()
            else:
                rows = connection.execute(select(table)).all()
                state[table.name] = sorted(repr(tuple(row)) for row in rows)
    return state


def changed_tables(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [name for name in after if before.get(name) != after[name]]


def audit_events(engine: Engine, event_type: str) -> list[AuditEventRow]:
    with Session(engine) as session:
        return list(
            session.exec(
                sql_select(AuditEventRow)
                .where(AuditEventRow.event_type == event_type)
                .order_by(col(AuditEventRow.seq))
            ).all()
        )


PNG_1X1 = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CODE = re.compile(r"\b[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b")


# -- what people do on the pages, step by step ---------------------------------------


def register_person(
    browser: Browser,
    *,
    given_name: str,
    family_name: str,
    birth_date: str,
    customer_number: str = "",
) -> str:
    """Find or register a person on ``/web/persons``; returns the pseudonymous subject id."""
    done = browser.submit(
        browser.get("/web/persons"),
        "/web/persons",
        given_name=given_name,
        family_name=family_name,
        birth_date=birth_date,
        customer_number=customer_number,
    )
    assert done.status == 303, done.html
    return done.location.rsplit("/", 1)[1]


def consent_review(browser: Browser, subject_id: str, **terms: str | Sequence[str]) -> Page:
    """Step one of capturing a consent: the terms form as suggested, with ``terms`` changed."""
    action = f"/web/persons/{subject_id}/consents/new"
    chosen: dict[str, str | Sequence[str]] = {
        "purposes": ["benefit_coordination"],
        "categories": ["benefit_status"],
        "channel": "paper_signature",
        **terms,
    }
    return browser.submit(browser.get(action), action, **chosen)


def record_consent(
    browser: Browser,
    subject_id: str,
    *,
    evidence: Mapping[str, str] | None = None,
    **terms: str | Sequence[str],
) -> Page:
    """Both steps of capturing a consent; ``evidence`` defaults to "the person agreed"."""
    review = consent_review(browser, subject_id, **terms)
    assert review.status == 200, review.errors() or review.html
    given = {"agreed": "yes"} if evidence is None else evidence
    return browser.submit(review, f"/web/persons/{subject_id}/consents", **given)


def recorded_consent_id(page: Page) -> str:
    assert page.status == 303, page.errors() or page.html
    match = re.fullmatch(r"/web/consents/(con_\w+)\?recorded=true", page.location)
    assert match, page.location
    return match.group(1)


def ask_question(
    browser: Browser, subject_id: str, question: str, **fields: str | Sequence[str]
) -> Page:
    """Choose a question for a person and send it with ``fields`` filled in."""
    form = browser.get(f"/web/persons/{subject_id}/queries/new", question=question)
    assert form.status == 200, form.html
    return browser.submit(form, f"/web/persons/{subject_id}/queries", **fields)


def asked_query_id(page: Page) -> str:
    assert page.status == 303, page.errors() or page.html
    match = re.fullmatch(r"/web/queries/(\w+)", page.location)
    assert match, page.location
    return match.group(1)


def linked_consent_id(page: Page) -> str:
    """The consent a page links to (the page shown after recording an own-phone consent)."""
    for link in page.doc.find_all("a"):
        match = re.fullmatch(r"/web/consents/(con_\w+)", link.attrs.get("href", ""))
        if match:
            return match.group(1)
    raise AssertionError("the page links to no consent")


def event_about(engine: Engine, event_type: str, consent_id: str) -> dict[str, Any]:
    """The (one) audit event of a type about a consent, as it was hashed."""
    found = [e for e in audit_events(engine, event_type) if e.consent_id == consent_id]
    assert len(found) == 1, (event_type, consent_id, len(found))
    document: dict[str, Any] = json.loads(found[0].event)
    return document


def confirmation_path(page: Page) -> str:
    """The one-time link on the page shown after recording an own-phone consent."""
    assert page.status == 201, page.errors() or page.html
    link = page.doc.by_id("confirmation-link")
    assert link is not None
    match = re.fullmatch(r"https?://[^/]+(/confirm/[\w-]+)", link.attrs["href"])
    assert match, link.attrs["href"]
    return match.group(1)
