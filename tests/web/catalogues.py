"""Which page texts the person's pages use: those must exist in every consent-text language."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file

from gateway.web import labels, pages
from gateway.web.endpoints import self_service

WEB = Path(__file__).resolve().parents[2] / "gateway" / "web"
PERSON_TEMPLATES = (
    "templates/person_base.html",
    "templates/person/code.html",
    "templates/person/overview.html",
    "templates/person/revoke.html",
    "templates/person/confirm.html",
    "templates/person/confirmed.html",
    "templates/account/about.html",
    "templates/error.html",
    "templates/macros.html",
)
# Python files whose N_() messages reach the person's pages.
PERSON_MODULES = ("forms.py", "pages.py", "endpoints/self_service.py")


def extracted(relative: str) -> set[str]:
    path = WEB / relative
    method = "jinja2" if relative.endswith(".html") else "python"
    options = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str] = set()
    for _line, message, _comments, _context in extract_from_file(
        method, path, keywords=keywords, options=options
    ):
        if isinstance(message, tuple):
            found.update(str(m) for m in message if m)
        elif message:
            found.add(str(message))
    return found


def person_msgids() -> set[str]:
    found: set[str] = set()
    for relative in (*PERSON_TEMPLATES, *PERSON_MODULES):
        found |= extracted(relative)
    found |= set(labels.STATUS_LABELS.values())
    found |= set(pages.TITLES.values()) | set(pages.DETAILS.values()) | {pages.FALLBACK_TITLE}
    found |= set(self_service.EVENT_WORDS.values())
    return found
