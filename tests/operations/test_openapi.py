"""The published OpenAPI documents: up to date, valid, with problem details on every operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from gateway.cli import main
from gateway.openapi import build_document, to_yaml
from gateway.settings import REPOSITORY_ROOT

COMMITTED = REPOSITORY_ROOT / "openapi" / "gateway.yaml"
ADAPTER_CONTRACT = REPOSITORY_ROOT / "openapi" / "jobcenter-adapter.yaml"
PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _differences(committed: Any, current: Any, where: str = "") -> list[str]:
    if isinstance(committed, dict) and isinstance(current, dict):
        found: list[str] = []
        for key in sorted(set(committed) | set(current), key=str):
            if key not in current:
                found.append(f"{where}/{key} removed")
            elif key not in committed:
                found.append(f"{where}/{key} added")
            else:
                found += _differences(committed[key], current[key], f"{where}/{key}")
        return found
    return [] if committed == current else [f"{where} changed"]


def test_the_committed_document_is_up_to_date(document: dict[str, Any]) -> None:
    committed = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    differences = _differences(committed, document)
    assert not differences, (
        "openapi/gateway.yaml is out of date; run `gateway openapi export` and commit it:\n  "
        + "\n  ".join(differences[:20])
    )


def test_the_documents_are_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    validate(yaml.safe_load(COMMITTED.read_text(encoding="utf-8")))
    if ADAPTER_CONTRACT.exists():
        validate(yaml.safe_load(ADAPTER_CONTRACT.read_text(encoding="utf-8")))


def test_every_operation_has_a_summary_and_problem_details(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status"}
    assert "HTTPValidationError" not in schemas
    for path, method, operation in _operations(document):
        name = f"{method.upper()} {path}"
        assert operation.get("summary"), name
        responses = operation["responses"]
        assert responses["default"]["content"]["application/problem+json"]["schema"] == PROBLEM
        for status, response in responses.items():
            if not status.startswith("4"):
                continue
            if path.startswith("/oauth/"):
                assert set(response["content"]) == {"application/json"}, name
                continue
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, (
                f"{name} {status}"
            )
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), name


def test_export_writes_the_same_document(
    document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gateway.yaml"
    assert main(["openapi", "export", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    text = out.read_text(encoding="utf-8")
    assert text == to_yaml(document)
    assert yaml.safe_load(text) == document
