"""Translations of the page texts: gettext catalogues (``locales/*/LC_MESSAGES/messages.po``).

The ``.po`` files are the source of truth in the repository; they are
compiled in memory when the gateway starts (Babel's ``write_mo``), so no
compiled ``.mo`` file is ever stale or committed. ``msgid`` is English.

Staff pages are offered in German and English; the person's pages in every
language that a consent text exists in (``policies/consent-texts``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).resolve().parent / "locales"
STAFF_LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
RIGHT_TO_LEFT = frozenset({"ar", "fa", "he", "ur"})
LANGUAGE_NAMES = {
    "de": "Deutsch",
    "en": "English",
    "ar": "العربية",
    "fa": "فارسی",
    "ru": "Русский",
    "tr": "Türkçe",
    "uk": "Українська",
}


def direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


def compile_catalogue(path: Path, language: str) -> Translations:
    with path.open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return Translations(fp=buffer)


def load_translations(directory: Path = LOCALES) -> dict[str, NullTranslations]:
    loaded: dict[str, NullTranslations] = {}
    for path in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        language = path.parent.parent.name
        loaded[language] = compile_catalogue(path, language)
    loaded.setdefault("en", NullTranslations())  # msgids are English
    return loaded


def negotiate(accept_language: str | None, offered: Iterable[str], default: str) -> str:
    """The first language of ``Accept-Language`` (RFC 9110 section 12.5.4) that we offer."""
    choices = list(offered)
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in choices and quality > 0:
            weighted.append((-quality, position, primary))
    return min(weighted)[2] if weighted else default
