"""HTTP routes of the pages, one module per area; ``install`` wires them into the app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from gateway.bootstrap import Container
from gateway.web.composition import build_web
from gateway.web.endpoints import account, audit, consents, persons, queries, self_service
from gateway.web.rendering import KERN_PACKAGE, STATIC


def install(app: FastAPI, container: Container) -> None:
    app.state.web = build_web(container)
    for module in (account, persons, consents, queries, audit, self_service):
        app.include_router(module.router)
    # KERN's CSS and fonts straight from the npm package (``npm ci``); without it the
    # pages still work, unstyled.
    app.mount(
        "/static/kern",
        StaticFiles(directory=KERN_PACKAGE / "dist", check_dir=False),
        name="kern",
    )
    app.mount("/static/web", StaticFiles(directory=STATIC), name="web-static")
