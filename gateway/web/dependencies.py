"""FastAPI dependencies of the pages: the signed-in viewer, CSRF-checked forms, languages.

Routes stay thin: they receive a ``Viewer`` (user, organisation, principal,
CSRF token, language) or are sent to the sign-in page; POST routes read their
form through ``checked_form``, which refuses a missing or wrong token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.datastructures import FormData

from gateway.auth.principal import Principal
from gateway.dependencies import SessionDep
from gateway.errors import Forbidden
from gateway.organisations.models import Organisation, Role, User
from gateway.web.composition import Web
from gateway.web.i18n import DEFAULT_LANGUAGE, STAFF_LANGUAGES, negotiate
from gateway.web.sessions import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    ActiveSession,
    tokens_match,
)


class SignInRequired(Exception):
    """No valid session: the page sends the browser to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Forbidden):
    default_slug = "csrf-token-invalid"


def get_web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


WebDep = Annotated[Web, Depends(get_web)]


def staff_language(request: Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in STAFF_LANGUAGES:
        return str(chosen)
    return negotiate(request.headers.get("accept-language"), STAFF_LANGUAGES, DEFAULT_LANGUAGE)


StaffLanguage = Annotated[str, Depends(staff_language)]


@dataclass(frozen=True)
class Viewer:
    active: ActiveSession
    language: str

    @property
    def user(self) -> User:
        return self.active.user

    @property
    def organisation(self) -> Organisation:
        return self.active.organisation

    @property
    def role(self) -> Role:
        return self.active.user.role

    @property
    def csrf_token(self) -> str:
        return self.active.csrf_token

    @property
    def principal(self) -> Principal:
        return self.active.principal()

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden("This page is for another role.", slug="wrong-role")


def current_viewer(
    request: Request, web: WebDep, session: SessionDep, language: StaffLanguage
) -> Viewer:
    active = web.sessions.resolve(
        session, cookie=request.cookies.get(web.cookies.name(SESSION_COOKIE))
    )
    if active is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(quote(target, safe="/?=&"))
    session.commit()  # the touch of last_seen, if any
    return Viewer(active=active, language=language)


CurrentViewer = Annotated[Viewer, Depends(current_viewer)]


async def checked_form(request: Request, viewer: CurrentViewer) -> FormData:
    """The submitted form of a signed-in user, if it carries the session's CSRF token."""
    form = await request.form()
    if not tokens_match(viewer.csrf_token, str(form.get(CSRF_FIELD) or "")):
        raise CsrfRejected("The form has expired. Please load the page again.")
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


async def anonymous_form(request: Request, web: WebDep) -> FormData:
    """A form without a session (double-submit): the field must equal the CSRF cookie."""
    form = await request.form()
    cookie = request.cookies.get(web.cookies.name(CSRF_COOKIE))
    if not tokens_match(cookie, str(form.get(CSRF_FIELD) or "")):
        raise CsrfRejected("The form has expired. Please load the page again.")
    return form


AnonymousForm = Annotated[FormData, Depends(anonymous_form)]


def commit(session: Session) -> None:
    session.commit()
