"""Consent texts from ``policies/consent-texts/``: loading and assembling the exact text shown.

The text a person sees is assembled from the language file's sections and the
catalogue's labels for the chosen purposes and categories, always in the same
order, so the same choices give the same bytes and the same SHA-256, which is
recorded on the consent as proof of what was shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from gateway.consents.models import ConsentStatus, RepresentativeRelation
from gateway.policy.models import Catalogue, Direction

REQUIRED_SECTIONS = (
    "intro",
    "purposes",
    "categories_heading",
    "special_categories",
    "directions",
    "voluntary",
    "withdrawal",
    "retention",
    "rights",
    "signature_line",
    "receipt",
    "self_service",
)


class ConsentTextError(ValueError):
    """A consent-text file is missing or incomplete."""


@dataclass(frozen=True)
class RenderedText:
    language: str
    direction: str
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LanguageText:
    language: str
    name: str
    direction: str
    version: str
    sections: Mapping[str, Any]

    def label(self, group: str, key: str) -> str:
        return str(self.sections[group][key])


# Label groups every language has with the German text's keys: a missing label would
# leave a blank on the printable receipt or the person's pages.
LABEL_SECTIONS = ("receipt", "self_service", "access_report")


def _keys(value: Any, prefix: str = "") -> set[str]:
    if not isinstance(value, Mapping):
        return {prefix}
    return {key for name, item in value.items() for key in _keys(item, f"{prefix}.{name}")}


def _check_labels(texts: Mapping[str, LanguageText]) -> None:
    """Every language labels what German labels, and the receipt names every status and
    every kind of legal representative."""
    german = texts["de"].sections
    for text in texts.values():
        for section in LABEL_SECTIONS:
            missing = _keys(german.get(section, {})) - _keys(text.sections.get(section, {}))
            if missing:
                raise ConsentTextError(
                    f"{text.language}: labels missing: "
                    + ", ".join(f"{section}{key}" for key in sorted(missing))
                )
        receipt = text.sections["receipt"]
        if "{relation}" not in str(receipt.get("given_by_representative", "")):
            raise ConsentTextError(
                f"{text.language}: receipt.given_by_representative lacks {{relation}}"
            )
        for group, values in (("statuses", ConsentStatus), ("relations", RepresentativeRelation)):
            unnamed = {value.value for value in values} - set(receipt.get(group, {}))
            if unnamed:
                raise ConsentTextError(
                    f"{text.language}: receipt.{group} lacks {', '.join(sorted(unnamed))}"
                )


class ConsentTexts:
    def __init__(self, texts: Mapping[str, LanguageText]) -> None:
        self._texts = dict(texts)

    @classmethod
    def load(cls, directory: Path, *, catalogue: Catalogue) -> ConsentTexts:
        if not directory.is_dir():
            raise ConsentTextError(f"{directory}: consent texts are missing")
        texts: dict[str, LanguageText] = {}
        for path in sorted(directory.glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ConsentTextError(f"{path}: not a mapping")
            missing = [section for section in REQUIRED_SECTIONS if section not in data]
            if missing:
                raise ConsentTextError(f"{path}: sections missing: {', '.join(missing)}")
            unknown = set(catalogue.purposes) - set(data["purposes"])
            if unknown:
                raise ConsentTextError(f"{path}: no text for purposes {', '.join(sorted(unknown))}")
            language = str(data["language"])
            texts[language] = LanguageText(
                language=language,
                name=str(data.get("name", language)),
                direction=str(data.get("direction", "ltr")),
                version=str(data["version"]),
                sections=data,
            )
        if "de" not in texts:
            raise ConsentTextError(f"{directory}: the German text (de.yaml) is required")
        _check_labels(texts)
        return cls(texts)

    @property
    def languages(self) -> list[str]:
        return sorted(self._texts)

    def get(self, language: str) -> LanguageText:
        try:
            return self._texts[language]
        except KeyError:
            raise ConsentTextError(f"no consent text in language '{language}'") from None

    def render(
        self,
        *,
        language: str,
        catalogue: Catalogue,
        purposes: Sequence[str],
        categories: Sequence[str],
        directions: Sequence[Direction],
        grantee: str,
        jobcenter: str,
        valid_until: date,
    ) -> RenderedText:
        # The order is the one README.md in the texts directory promises: the
        # catalogue's order, never the caller's, so equal choices give equal bytes.
        text = self.get(language)
        sections = text.sections
        names = {"grantee": grantee, "jobcenter": jobcenter, "valid_until": valid_until.isoformat()}
        blocks = [str(sections["intro"]).format(**names)]
        for purpose_id in (p for p in catalogue.purposes if p in set(purposes)):
            label = catalogue.purposes[purpose_id].labels.get(language, purpose_id)
            blocks.append(f"{label}\n{sections['purposes'][purpose_id]}")
        category_lines = [
            f"- {catalogue.categories[c].labels.get(language, c)}"
            for c in catalogue.categories
            if c in set(categories)
        ]
        blocks.append("\n".join([str(sections["categories_heading"]), *category_lines]))
        blocks.append(str(sections["special_categories"]))
        chosen = {d.value for d in directions}
        blocks.append(
            "\n".join(
                f"- {str(sections['directions'][d.value]).format(**names)}"
                for d in Direction
                if d.value in chosen
            )
        )
        for section in ("voluntary", "withdrawal", "retention", "rights", "signature_line"):
            blocks.append(str(sections[section]))
        body = "\n\n".join(block.strip() for block in blocks) + "\n"
        return RenderedText(
            language=language, direction=text.direction, version=text.version, text=body
        )
