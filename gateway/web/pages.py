"""What every page route shares: error pages, redirects, rendering with the viewer."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from gateway.errors import GatewayError
from gateway.web.composition import Web
from gateway.web.dependencies import CsrfRejected, SignInRequired, Viewer, staff_language
from gateway.web.forms import N_


class WebRoute(APIRoute):
    """Domain errors become pages, a missing session becomes the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except SignInRequired as exc:
                return RedirectResponse(f"/web/signin?next={exc.next_path}", status_code=303)
            except GatewayError as exc:
                return error_page(request, exc)

        return handler


TITLES = {
    400: N_("The request cannot be processed"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    409: N_("This is no longer possible"),
    410: N_("No longer available"),
    422: N_("The request cannot be processed"),
}
FALLBACK_TITLE = N_("Something went wrong")
DETAILS = {
    403: N_("You may not open this page."),
    404: N_("This page does not exist, or it is not visible to you."),
}


def error_page(request: Request, exc: GatewayError) -> Response:
    web: Web = request.app.state.web
    person = bool(getattr(request.state, "person_language", None))
    language = getattr(request.state, "person_language", None) or staff_language(request)
    gettext = web.translations.get(language, web.translations["en"]).gettext
    if isinstance(exc, CsrfRejected):
        detail = gettext("The form has expired. Please load the page again.")
    elif exc.status in DETAILS:
        detail = gettext(DETAILS[exc.status])
    else:
        # Domain messages are English; they name the cause without personal data.
        detail = exc.detail
    return web.pages.render(
        "error.html",
        language=language,
        status=exc.status,
        layout="person_base.html" if person else "base.html",
        title=gettext(TITLES.get(exc.status, FALLBACK_TITLE)),
        detail=detail,
        back="/self-service" if person else "/web",
        viewer=None,
        section="",
        here=request.url.path,
        languages=web.person_languages,
    )


def render(
    request: Request,
    web: Web,
    template: str,
    *,
    viewer: Viewer | None,
    language: str | None = None,
    status: int = 200,
    section: str = "",
    **context: Any,
) -> Response:
    return web.pages.render(
        template,
        language=language or (viewer.language if viewer else staff_language(request)),
        status=status,
        viewer=viewer,
        section=section,
        here=request.url.path,
        **context,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None, default: str = "/web") -> str:
    """Only paths of our own pages: never an open redirect to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def quoted(value: str) -> str:
    return quote(value, safe="")
