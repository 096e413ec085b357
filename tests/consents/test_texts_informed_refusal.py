"""Informed refusal: every consent text, for every purpose, tells the person the purpose, what
refusing means, that refusing does not touch their benefits, and how to withdraw later.

The text is assembled from sections (``gateway.consents.texts``); this checks the assembled
text, so a section that goes missing from the output fails here. German is authoritative and
English its closest translation, so their wording is checked; every other language must carry
the same sections and name the benefit (Bürgergeld) the refusal leaves untouched.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from gateway.consents.texts import ConsentTexts
from gateway.policy.engine import PolicyEngine
from gateway.policy.models import Direction
from gateway.settings import REPOSITORY_ROOT

POLICIES = REPOSITORY_ROOT / "policies"
LANGUAGES = sorted(path.stem for path in Path(POLICIES / "consent-texts").glob("*.yaml"))
# Phrases of the authoritative texts: (refusing has no disadvantage, benefits unchanged,
# withdraw at any time, how: tell either office or use the code on the receipt).
WORDING = {
    "de": ("keine Nachteile", "Anspruch auf Leistungen", "jederzeit widerrufen", "Code"),
    "en": ("not cause you any disadvantage", "entitlement to benefits", "withdraw", "code"),
}

engine = PolicyEngine.load(POLICIES)
texts = ConsentTexts.load(POLICIES / "consent-texts", catalogue=engine.catalogue)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("purpose", sorted(engine.catalogue.purposes))
def test_every_text_informs_a_refusal(language: str, purpose: str) -> None:
    sections = texts.get(language).sections
    rendered = texts.render(
        language=language,
        catalogue=engine.catalogue,
        purposes=[purpose],
        categories=list(engine.catalogue.purposes[purpose].categories),
        directions=list(Direction),
        grantee="Stadt Brackenheim",
        jobcenter="Jobcenter Landkreis Heilbronn",
        valid_until=date(2027, 1, 31),
    ).text
    # The purpose, explained in the person's language.
    assert str(sections["purposes"][purpose]).strip() in rendered
    assert engine.catalogue.purposes[purpose].labels[language] in rendered
    # Consequences of refusing, and that benefits stay as they are.
    voluntary = str(sections["voluntary"]).strip()
    assert voluntary in rendered
    assert "Bürgergeld" in voluntary
    # How to withdraw.
    assert str(sections["withdrawal"]).strip() in rendered
    if language in WORDING:
        no_disadvantage, benefits, anytime, how = WORDING[language]
        assert no_disadvantage in voluntary
        assert benefits in voluntary
        assert anytime in str(sections["withdrawal"])
        assert how in str(sections["withdrawal"])


def test_every_language_is_checked() -> None:
    assert {"de", "en", "ar", "fa", "ru", "tr", "uk"} <= set(LANGUAGES)
