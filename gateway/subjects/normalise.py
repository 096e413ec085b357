"""Normalisation of identity attributes before the blind index.

The same person registered by two case systems must get the same pseudonym,
even when one writes "Müller" and the other "Mueller", or one types a
Ukrainian name in Cyrillic and the other in its Latin transliteration. The
rules, applied in this order:

1. Unicode NFKC, then lower case (``str.casefold``: "ß" becomes "ss").
2. Cyrillic letters are transliterated to Latin with the table below (close
   to the Ukrainian national and German passport practice, so "Олена
   Шевченко" and "Olena Shevchenko" agree). Arabic script is not
   transliterated: there is no single accepted romanisation, so a name written
   in Arabic script only matches the same spelling.
3. German umlauts are folded to their two-letter forms ("ä" -> "ae",
   "ö" -> "oe", "ü" -> "ue"), so "Müller" and "Mueller" agree.
4. Remaining diacritics are removed (NFKD, combining marks dropped):
   "Çelik" -> "celik", "Đorđević" -> "dordevic".
5. Everything that is not a letter or digit is dropped (spaces, hyphens,
   apostrophes): "Al-Hassan" equals "Al Hassan" and "alhassan".
6. Given names and family name are kept apart; the birth date is ISO 8601.

What does not match, on purpose: different given names ("Mohammed" vs
"Muhammad"), a changed family name, a different birth date. Those are different
records until a person confirms they are the same.
"""

from __future__ import annotations

import unicodedata
from datetime import date

CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie",
    "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu",
    "я": "ia", "ы": "y", "э": "e", "ё": "e", "ъ": "",
}  # fmt: skip
UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue"}


def normalise_name(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).casefold()
    text = "".join(CYRILLIC.get(char, char) for char in text)
    text = "".join(UMLAUTS.get(char, char) for char in text)
    decomposed = unicodedata.normalize("NFKD", text)
    without_marks = "".join(c for c in decomposed if not unicodedata.combining(c))
    # "đ" and "ø" have no decomposition; fold the few common ones by hand.
    without_marks = without_marks.replace("đ", "d").replace("ø", "o").replace("ł", "l")
    return "".join(char for char in without_marks if char.isalnum())


def identity_key(*, given_name: str, family_name: str, birth_date: date) -> str:
    return "|".join(
        [normalise_name(given_name), normalise_name(family_name), birth_date.isoformat()]
    )
