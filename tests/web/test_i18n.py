"""The page-text catalogues: the template is current, German is complete, and the person's
pages speak every language that a consent text exists in.

msgids are English (``gateway.web.i18n``); ``make messages`` re-extracts the template and
merges it into the catalogues. No database is needed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from gateway.web.i18n import LOCALES, STAFF_LANGUAGES, load_translations
from tests.web.catalogues import person_msgids

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "gateway" / "web"
TEMPLATE = LOCALES / "messages.pot"
CONSENT_TEXTS = ROOT / "policies" / "consent-texts"
# The person's languages: every consent text but the staff languages.
PERSON_LANGUAGES = sorted(
    path.stem for path in CONSENT_TEXTS.glob("*.yaml") if path.stem not in STAFF_LANGUAGES
)
CATALOGUE_LANGUAGES = sorted(
    path.parent.parent.name for path in LOCALES.glob("*/LC_MESSAGES/messages.po")
)
# `%(name)s` of Python and of Jinja2's new-style gettext, `%%`, a stray `%` (which breaks
# Jinja2: it %-formats every translation) and any Jinja2 `{{ … }}` inside a text.
PLACEHOLDER = re.compile(r"%\(\w+\)[a-z]|%%|%|\{\{.*?\}\}")

MessageId = str | tuple[str, ...]


def _catalogue(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def _po(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def _messages(catalogue: Catalog) -> Iterator[Message]:
    return (message for message in catalogue if message.id)


def _id(message: Message) -> MessageId:
    return message.id if isinstance(message.id, str) else tuple(message.id)


def _forms(message: Message) -> tuple[str, ...]:
    string = message.string
    return tuple(string) if isinstance(string, tuple | list) else (string or "",)


def _translated(message: Message, plurals: int) -> bool:
    forms = _forms(message)
    expected = plurals if message.pluralizable else 1
    return not message.fuzzy and len(forms) == expected and all(forms)


def _texts(message_id: MessageId) -> tuple[str, ...]:
    return (message_id,) if isinstance(message_id, str) else message_id


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def _extracted() -> set[MessageId]:
    with (WEB / "babel.cfg").open(encoding="utf-8") as handle:
        # Babel leaves this one unannotated.
        method_map, options_map = parse_mapping_cfg(handle)  # type: ignore[no-untyped-call]
    keywords = {**DEFAULT_KEYWORDS, "N_": None}

    def only_gateway(path: str) -> bool:
        # node_modules and the virtualenv hold nothing of ours; don't walk them.
        return Path(path).resolve().is_relative_to(ROOT / "gateway")

    found: set[MessageId] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords, directory_filter=only_gateway
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def _ids(catalogue: Catalog) -> set[MessageId]:
    return {_id(message) for message in _messages(catalogue)}


def test_person_and_staff_languages_have_catalogues() -> None:
    assert PERSON_LANGUAGES, "no consent texts found"
    assert set(PERSON_LANGUAGES) | {"de"} <= set(CATALOGUE_LANGUAGES)


# -- (a) the template is current -------------------------------------------------------


def test_template_is_up_to_date_with_the_sources() -> None:
    template = _ids(_catalogue(TEMPLATE))
    sources = _extracted()

    assert sources - template == set(), "new texts in the sources: run `make messages`"
    assert template - sources == set(), "texts gone from the sources: run `make messages`"


def test_person_msgids_are_in_the_template() -> None:
    template = {text for message_id in _ids(_catalogue(TEMPLATE)) for text in _texts(message_id)}
    assert person_msgids() <= template


@pytest.mark.parametrize("language", CATALOGUE_LANGUAGES)
def test_catalogue_holds_every_msgid_of_the_template(language: str) -> None:
    assert _ids(_catalogue(_po(language), language)) == _ids(_catalogue(TEMPLATE))


# -- (b) German is complete ------------------------------------------------------------


def test_every_msgid_has_a_german_translation() -> None:
    catalogue = _catalogue(_po("de"), "de")
    missing = [
        _id(message)
        for message in _messages(catalogue)
        if not _translated(message, catalogue.num_plurals)
    ]
    assert missing == []


# -- (c) the person's pages in every consent-text language ------------------------------


@pytest.mark.parametrize("language", PERSON_LANGUAGES)
def test_person_msgids_are_translated(language: str) -> None:
    catalogue = _catalogue(_po(language), language)
    wanted = person_msgids()
    translated = {
        text
        for message in _messages(catalogue)
        if _translated(message, catalogue.num_plurals)
        for text in _texts(_id(message))
    }
    assert sorted(wanted - translated) == []


# -- (d) placeholders survive translation -------------------------------------------------


@pytest.mark.parametrize("language", CATALOGUE_LANGUAGES)
def test_translations_keep_the_placeholders(language: str) -> None:
    catalogue = _catalogue(_po(language), language)
    wrong: list[tuple[MessageId, str]] = []
    for message in _messages(catalogue):
        message_id = _id(message)
        forms = [form for form in _forms(message) if form]
        if isinstance(message_id, str):
            expected = _placeholders(message_id)
            wrong += [(message_id, form) for form in forms if _placeholders(form) != expected]
            continue
        # A plural form may leave out the number ("one entry"), never add a placeholder;
        # the last form, the general one, has all of msgid_plural's.
        allowed = {p for text in message_id for p in _placeholders(text)}
        wrong += [(message_id, form) for form in forms if not set(_placeholders(form)) <= allowed]
        if forms and set(_placeholders(forms[-1])) != set(_placeholders(message_id[-1])):
            wrong.append((message_id, forms[-1]))
    assert wrong == []


def test_placeholder_pattern_finds_stray_percent_signs() -> None:
    assert _placeholders("%(count)s Zeichen, %%") == ["%%", "%(count)s"]
    assert _placeholders("%50 indirim") == ["%"]


# -- (e) the catalogues compile and are used ---------------------------------------------


@pytest.mark.parametrize("language", CATALOGUE_LANGUAGES)
def test_plural_forms_header_fits_the_language(language: str) -> None:
    assert _catalogue(_po(language), language).plural_forms == Catalog(locale=language).plural_forms


def test_every_catalogue_compiles_and_translates() -> None:
    translations = load_translations()

    assert set(CATALOGUE_LANGUAGES) <= set(translations)
    assert translations["en"].gettext("Your consent") == "Your consent"
    assert translations["de"].gettext("Sign in") == "Anmelden"
    for language in CATALOGUE_LANGUAGES:
        catalogue = _catalogue(_po(language), language)
        expected = catalogue.get("Your consent")
        assert expected is not None
        assert expected.string not in ("", "Your consent")
        assert translations[language].gettext("Your consent") == expected.string
