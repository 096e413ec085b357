"""Rendering pages: one Jinja2 environment per language, security headers, asset locations.

Each environment has the gettext callables of its language installed
(``jinja2.ext.i18n``, new style: ``_("Hello %(name)s", name=...)``), so a
request never changes shared state. Every HTML response carries a strict
Content-Security-Policy (scripts and styles from ``'self'`` only), refuses
framing, and sends no ``Referer`` — the person's pages carry their code in
the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from gateway.clock import as_utc
from gateway.settings import REPOSITORY_ROOT
from gateway.web import labels
from gateway.web.i18n import LANGUAGE_NAMES, direction

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
KERN_PACKAGE = REPOSITORY_ROOT / "node_modules" / "@kern-ux" / "native"
BERLIN = ZoneInfo("Europe/Berlin")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def kern_version() -> str | None:
    """The installed KERN version, for the licence notice (None when ``npm ci`` did not run)."""
    manifest = KERN_PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    import json

    version = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    return str(version) if version else None


class Pages:
    def __init__(self, translations: Mapping[str, NullTranslations]) -> None:
        self._environments: dict[str, Environment] = {}
        self.kern_version = kern_version()
        for language, translation in translations.items():
            environment = Environment(
                loader=FileSystemLoader(TEMPLATES),
                autoescape=select_autoescape(["html"]),
                extensions=["jinja2.ext.i18n"],
                undefined=StrictUndefined,
                auto_reload=False,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            environment.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
            environment.filters.update(_filters(language, translation))
            environment.globals.update(
                lang=language,
                dir=direction(language),
                language_names=LANGUAGE_NAMES,
                kern_version=self.kern_version,
                status_labels=labels.STATUS_LABELS,
                status_badges=labels.STATUS_BADGES,
                evidence_labels=labels.EVIDENCE_LABELS,
                revocation_labels=labels.REVOCATION_LABELS,
                representative_labels=labels.REPRESENTATIVE_LABELS,
                direction_labels=labels.DIRECTION_LABELS,
                role_labels=labels.ROLE_LABELS,
                measure_labels=labels.MEASURE_LABELS,
            )
            self._environments[language] = environment

    @property
    def languages(self) -> list[str]:
        return sorted(self._environments)

    def render_text(self, template: str, *, language: str, **context: Any) -> str:
        environment = self._environments.get(language) or self._environments["en"]
        return environment.get_template(template).render(**context)

    def render(
        self,
        template: str,
        *,
        language: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.render_text(template, language=language, **context)
        return HTMLResponse(
            html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
        )


def _filters(language: str, translation: NullTranslations) -> dict[str, Any]:
    gettext = translation.gettext

    def label(code: str, mapping: Mapping[str, str]) -> str:
        return gettext(mapping[code]) if code in mapping else code

    def choice(code: str, mapping: Mapping[str, str]) -> tuple[str, str]:
        return code, label(code, mapping)

    def answer_value(value: Any) -> str:
        if isinstance(value, bool):
            return gettext("Yes") if value else gettext("No")
        if isinstance(value, str) and value in labels.ENUM_LABELS:
            return gettext(labels.ENUM_LABELS[value])
        return "" if value is None else str(value)

    return {
        "when": _datetime_filter(language),
        "day": _date_filter(language),
        "label": label,
        "choice": choice,
        "field_label": lambda key: gettext(labels.field_label(key)),
        "enum_label": lambda value: gettext(labels.enum_label(value)),
        "answer_value": answer_value,
        "enum_choice": lambda value: (value, gettext(labels.enum_label(value))),
    }


def _datetime_filter(language: str) -> Any:
    def when(value: datetime | None, length: str = "medium") -> str:
        if value is None:
            return ""
        return format_datetime(as_utc(value), length, tzinfo=BERLIN, locale=language)

    return when


def _date_filter(language: str) -> Any:
    def day(value: date | datetime | None, length: str = "medium") -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = as_utc(value).astimezone(BERLIN).date()
        return format_date(value, length, locale=language)

    return day
