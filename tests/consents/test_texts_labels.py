"""Every language labels what the German text labels; the receipt names every status and
every kind of legal representative. A gap refuses to load, naming the label."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.consents.texts import ConsentTextError, ConsentTexts
from gateway.policy.engine import PolicyEngine
from gateway.settings import REPOSITORY_ROOT

POLICIES = REPOSITORY_ROOT / "policies"
engine = PolicyEngine.load(POLICIES)


def _load_changed(tmp_path: Path, language: str, change: Callable[[dict[str, Any]], None]) -> None:
    directory = tmp_path / "consent-texts"
    shutil.copytree(POLICIES / "consent-texts", directory)
    path = directory / f"{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    ConsentTexts.load(directory, catalogue=engine.catalogue)


def test_the_shipped_texts_load() -> None:
    texts = ConsentTexts.load(POLICIES / "consent-texts", catalogue=engine.catalogue)
    assert len(texts.languages) == 7


@pytest.mark.parametrize(
    ("language", "change", "named"),
    [
        ("fa", lambda d: d["receipt"].pop("given_by"), "receipt.given_by"),
        ("ar", lambda d: d["access_report"]["actions"].pop("query.asked"), "query.asked"),
        ("tr", lambda d: d["receipt"]["relations"].pop("carer"), "receipt.relations.carer"),
        ("de", lambda d: d["receipt"]["statuses"].pop("paused"), "statuses lacks paused"),
        (
            "uk",
            lambda d: d["receipt"].update(given_by_representative="{relationship}"),
            "lacks {relation}",
        ),
    ],
)
def test_a_missing_label_refuses_to_load(
    tmp_path: Path, language: str, change: Callable[[dict[str, Any]], None], named: str
) -> None:
    with pytest.raises(ConsentTextError, match=named):
        _load_changed(tmp_path, language, change)
