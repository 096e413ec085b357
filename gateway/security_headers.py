"""The response headers every answer of the gateway carries, set in one place.

- ``X-Content-Type-Options: nosniff`` on every response.
- ``Cache-Control: no-store`` unless the route chose a policy (the public JWK
  Set is cacheable): answers carry personal data, and a shared cache or the
  browser's disk must not keep them. Static assets keep their validators.
- Every HTML page gets the pages' Content-Security-Policy (``frame-ancestors
  'none'``), ``Referrer-Policy`` and ``X-Frame-Options`` of
  ``gateway.web.rendering`` unless it brings its own; the API documentation
  (Swagger UI and ReDoc load from a CDN) only refuses framing.
- ``Strict-Transport-Security`` (RFC 6797) when the issuer is https: a browser
  that once reached the gateway never falls back to http, where a code in a
  URL would travel in clear.

A route's own header wins: it knows its page (the printable receipt allows its
inline print styles). Pure ASGI, so streamed responses pass untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.web.rendering import CONTENT_SECURITY_POLICY, SECURITY_HEADERS

# RFC 6797 section 6.1.1: two years, the value browsers' preload lists ask for.
HSTS = "max-age=63072000"
# A printable page brings its print styles inline (``<style>`` in the page).
PRINTABLE_PAGE_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'"
)
DOCUMENTATION_POLICY = "frame-ancestors 'none'"
STATIC_PREFIX = "/static/"


class SecurityHeaders:
    def __init__(
        self, app: ASGIApp, *, https: bool, documentation_paths: Iterable[str | None] = ()
    ) -> None:
        self.app = app
        self.https = https
        self.documentation_paths = frozenset(path for path in documentation_paths if path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                self._add(MutableHeaders(scope=message), path)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, path: str) -> None:
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if not path.startswith(STATIC_PREFIX):
            headers.setdefault("Cache-Control", "no-store")
        if headers.get("content-type", "").startswith("text/html"):
            if path in self.documentation_paths:
                headers.setdefault("Content-Security-Policy", DOCUMENTATION_POLICY)
            for name, value in SECURITY_HEADERS.items():
                headers.setdefault(name, value)
        if self.https:
            headers.setdefault("Strict-Transport-Security", HSTS)
