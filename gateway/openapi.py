"""The gateway's published OpenAPI document: error responses for every operation, YAML export.

FastAPI derives the document from the routes. ``install`` wraps ``app.openapi``
so that the document also says how errors look, without every router
repeating it:

- ``components.schemas.Problem``: RFC 9457 section 3 problem details
  (https://www.rfc-editor.org/rfc/rfc9457#section-3), served as
  ``application/problem+json``, extension members allowed;
- every operation: ``default`` (any other error, e.g. 413 or 500) and, where
  they can happen, 400 (a request body that is not valid JSON), 401 and 403
  (the operation needs a bearer token), 404 (a path names a resource) and
  422 (parameters or body do not match), all as ``Problem``; FastAPI's own
  ``HTTPValidationError`` is replaced because ``gateway.rfc9457`` answers
  validation errors with problem details;
- the OAuth endpoints ``/oauth/*`` answer 400 and 401 with RFC 6749 section
  5.2 error responses (``components.schemas.OAuthError``) instead.

Responses a router declares itself are kept. ``gateway openapi export``
writes the document as YAML with sorted keys, so the committed
``openapi/gateway.yaml`` changes only when the API does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI

from gateway.rfc9457 import MEDIA_TYPE
from gateway.settings import REPOSITORY_ROOT, Settings

DEFAULT_OUT = Path("openapi/gateway.yaml")
PROBLEM_REF = "#/components/schemas/Problem"
OAUTH_ERROR_REF = "#/components/schemas/OAuthError"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": (
        "RFC 9457 problem details. `type` is stable per cause (`/problems/<slug>`); "
        "causes add extension members such as `reasons` or `errors`."
    ),
    "properties": {
        "type": {"type": "string", "format": "uri-reference", "examples": ["/problems/not-found"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "format": "uri-reference"},
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}

OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OAuthError",
    "type": "object",
    "description": "RFC 6749 section 5.2 error response of the authorization server.",
    "properties": {
        "error": {"type": "string", "examples": ["invalid_client"]},
        "error_description": {"type": "string"},
        "error_uri": {"type": "string", "format": "uri"},
    },
    "required": ["error"],
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    "400": "Bad request: the body is not valid JSON, or a parameter is not usable.",
    "401": "No valid bearer access token.",
    "403": "The token lacks a scope or role, or the rules deny the action.",
    "404": "No such resource (resources of other organisations do not exist for the caller).",
    "422": "The parameters or the body do not match the schema.",
    "default": (
        "Any other error, as problem details (e.g. 409, 413, 429, 500; 503 with "
        "Retry-After while the database is unreachable or the gateway is busy)."
    ),
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}}


def _oauth_error() -> dict[str, Any]:
    return {
        "description": "RFC 6749 error response (section 5.2).",
        "content": {"application/json": {"schema": {"$ref": OAUTH_ERROR_REF}}},
    }


def add_error_responses(document: dict[str, Any]) -> None:
    """Add the Problem schema and the error responses described above, in place.

    An operation needs a token when it names a security requirement (the
    bearer scheme of ``gateway.dependencies``).
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["OAuthError"] = OAUTH_ERROR_SCHEMA
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            parameters = operation.get("parameters", [])
            wanted: list[str] = []
            if "requestBody" in operation:
                wanted += ["400", "422"]
            elif parameters:
                wanted.append("422")
            if operation.get("security"):
                wanted += ["401", "403"]
            if any(p.get("in") == "path" for p in parameters):
                wanted.append("404")
            if path.startswith("/oauth/"):
                for status in ("400", "401"):
                    responses.setdefault(status, _oauth_error())
            for status in wanted:
                declared = responses.get(status)
                if declared is None or _is_fastapi_validation(declared):
                    responses[status] = _problem(_DESCRIPTIONS[status])
            responses.setdefault("default", _problem(_DESCRIPTIONS["default"]))
            operation["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        if name in schemas and f"#/components/schemas/{name}" not in _references(document):
            del schemas[name]


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == "#/components/schemas/HTTPValidationError")


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                found.add(item)
            else:
                found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with error responses (generated once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # FastAPI caches it in app.openapi_schema
            add_error_responses(document)
            app.openapi_schema = document
        return app.openapi_schema

    # FastAPI's documented way to customise the document is to replace this method.
    app.openapi = openapi  # type: ignore[method-assign]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (descriptions from docstrings) as literal blocks, as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(document: dict[str, Any]) -> str:
    """Deterministic YAML: sorted keys, block style, no line folding, UTF-8 text kept."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=True,
        allow_unicode=True,
        default_flow_style=False,
        width=10_000,
    )


def build_document(*, policies_dir: Path | None = None) -> dict[str, Any]:
    """The document of a throwaway app: no database is opened, no key of ours is touched."""
    from gateway.app import create_app  # the app module installs this one

    with tempfile.TemporaryDirectory(prefix="gateway-openapi-") as scratch:
        settings = Settings(
            env="development",
            data_dir=Path(scratch),
            database_url=None,
            keys_dir=None,
            policies_dir=policies_dir or REPOSITORY_ROOT / "policies",
            log_json=True,
            log_level="WARNING",
        )
        app = create_app(settings)
        try:
            return app.openapi()
        finally:
            app.state.container.close()


# -- ``gateway openapi export`` ---------------------------------------------------------


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``openapi export`` to the project CLI."""
    parser = subparsers.add_parser("openapi", help="the published OpenAPI document")
    commands = parser.add_subparsers(dest="openapi_command", metavar="COMMAND", required=True)
    export = commands.add_parser("export", help="write the gateway's OpenAPI document as YAML")
    export.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"file to write (default: {DEFAULT_OUT})"
    )
    export.set_defaults(func=export_command)


def export_command(args: argparse.Namespace, settings: Settings) -> int:
    out: Path = args.out
    text = to_yaml(build_document(policies_dir=settings.policies_dir))
    if str(out) == "-":
        sys.stdout.write(text)
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {out}\n")
    return 0
