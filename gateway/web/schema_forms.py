"""Forms generated from a question's JSON Schema (answers, and parameters of a question).

The catalogue describes every answer with JSON Schema 2020-12; the form is
derived from it, so a new question type needs no new page. Supported: objects
(fieldsets), arrays of objects (repeated rows; "add a row" works without
JavaScript), strings (``format`` date, date-time, email; long ones as text
areas), numbers, integers, booleans and enums. Fields whose category the
consent does not cover are marked: the gateway removes them before delivery.

Field names are dotted paths below a prefix (``answer.appointments.0.kind``).
Parsing turns the submitted strings back into JSON by the schema and checks
it with the same JSON Schema, mapping every problem to its field.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from gateway.web.forms import N_, Message, local_datetime

ROWS_SUFFIX = "__rows"
LONG_TEXT = 300
MAX_ROWS = 30


@dataclass
class SchemaField:
    name: str
    key: str
    kind: str
    required: bool
    pointer: str
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    children: list[SchemaField] = field(default_factory=list)
    rows: list[list[SchemaField]] = field(default_factory=list)
    value: str = ""
    error: Message | None = None
    removed: bool = False

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    reference = schema.get("$ref")
    if not isinstance(reference, str) or not reference.startswith("#/"):
        return schema
    target: Any = root
    for part in reference[2:].split("/"):
        target = target[part]
    merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return merged


def _kind(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "enum"
    kind = schema.get("type")
    if kind == "object":
        return "group"
    if kind == "array":
        return "list"
    if kind == "boolean":
        return "boolean"
    if kind in {"number", "integer"}:
        return str(kind)
    string_format = schema.get("format")
    if string_format == "date":
        return "date"
    if string_format == "date-time":
        return "datetime"
    if string_format == "email":
        return "email"
    if int(schema.get("maxLength", 0)) > LONG_TEXT:
        return "textarea"
    return "text"


class SchemaForm:
    """The form of one schema under one name prefix."""

    def __init__(
        self, schema: Mapping[str, Any], *, prefix: str, removed: Sequence[str] = ()
    ) -> None:
        self.schema = schema
        self.prefix = prefix
        self.removed = tuple(removed)  # JSON-pointer-like paths with '*' for array items

    # -- building --------------------------------------------------------------------

    def fields(
        self, values: Mapping[str, Any], errors: Mapping[str, Message] | None = None
    ) -> list[SchemaField]:
        return self._object(self.schema, self.prefix, "", values, errors or {})

    def _object(
        self,
        schema: Mapping[str, Any],
        name: str,
        pointer: str,
        values: Mapping[str, Any],
        errors: Mapping[str, Message],
    ) -> list[SchemaField]:
        schema = _resolve(schema, self.schema)
        required = set(schema.get("required", []))
        result = []
        for key, child in schema.get("properties", {}).items():
            result.append(
                self._field(
                    child, key, f"{name}.{key}", f"{pointer}/{key}", key in required, values, errors
                )
            )
        return result

    def _field(
        self,
        schema: Mapping[str, Any],
        key: str,
        name: str,
        pointer: str,
        required: bool,
        values: Mapping[str, Any],
        errors: Mapping[str, Message],
    ) -> SchemaField:
        schema = _resolve(schema, self.schema)
        kind = _kind(schema)
        item = SchemaField(
            name=name,
            key=key,
            kind=kind,
            required=required,
            pointer=pointer,
            choices=tuple(str(c) for c in schema.get("enum", ())),
            max_length=schema.get("maxLength"),
            value=str(values.get(name, "")),
            error=errors.get(name),
            removed=any(fnmatch.fnmatchcase(pointer, path) for path in self.removed),
        )
        if kind == "group":
            item.children = self._object(schema, name, pointer, values, errors)
        elif kind == "list":
            items = _resolve(schema.get("items", {}), self.schema)
            for index in range(self.row_count(name, values)):
                row_name, row_pointer = f"{name}.{index}", f"{pointer}/{index}"
                if items.get("type") == "object":
                    row = self._object(items, row_name, row_pointer, values, errors)
                else:
                    row = [self._field(items, key, row_name, row_pointer, True, values, errors)]
                item.rows.append(row)
        return item

    @staticmethod
    def row_count(name: str, values: Mapping[str, Any]) -> int:
        raw = str(values.get(f"{name}.{ROWS_SUFFIX}", "1"))
        count = int(raw) if raw.isdigit() else 1
        if values.get("_add_row") == name:
            count += 1
        return max(1, min(count, MAX_ROWS))

    # -- parsing ---------------------------------------------------------------------

    def parse(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Message]]:
        errors: dict[str, Message] = {}
        document = self._parse_object(self.schema, self.prefix, values, errors, required=True)
        result: dict[str, Any] = document if isinstance(document, dict) else {}
        if not errors:
            self._validate(result, errors)
        return result, errors

    def _parse_object(
        self,
        schema: Mapping[str, Any],
        name: str,
        values: Mapping[str, Any],
        errors: dict[str, Message],
        *,
        required: bool,
    ) -> dict[str, Any] | None:
        schema = _resolve(schema, self.schema)
        needed = set(schema.get("required", []))
        parsed: dict[str, Any] = {}
        for key, child in schema.get("properties", {}).items():
            value = self._parse_value(child, f"{name}.{key}", values, errors)
            if value is not None:
                parsed[key] = value
        if not parsed and not required:
            return None  # an optional group left empty is left out
        for key in needed - set(parsed):
            errors.setdefault(f"{name}.{key}", Message(N_("Please fill in this field.")))
        return parsed

    def _parse_value(
        self,
        schema: Mapping[str, Any],
        name: str,
        values: Mapping[str, Any],
        errors: dict[str, Message],
    ) -> Any:
        schema = _resolve(schema, self.schema)
        kind = _kind(schema)
        if kind == "group":
            return self._parse_object(schema, name, values, errors, required=False)
        if kind == "list":
            items = _resolve(schema.get("items", {}), self.schema)
            rows = []
            for index in range(self.row_count(name, {**values, "_add_row": None})):
                row_name = f"{name}.{index}"
                if items.get("type") == "object":
                    row = self._parse_object(items, row_name, values, errors, required=False)
                else:
                    row = self._parse_value(items, row_name, values, errors)
                if row is not None:
                    rows.append(row)
            return rows
        raw = str(values.get(name, "")).strip()
        if not raw:
            return None
        try:
            return _scalar(kind, raw, schema)
        except ValueError as exc:
            errors.setdefault(name, Message(str(exc)))
            return None

    def _validate(self, document: dict[str, Any], errors: dict[str, Message]) -> None:
        validator = Draft202012Validator(
            dict(self.schema), format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for error in validator.iter_errors(document):
            errors.setdefault(self._name_of(error), _message(error))

    def _name_of(self, error: ValidationError) -> str:
        path = [str(part) for part in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            needed: list[str] = list(error.validator_value)  # type: ignore[arg-type]
            missing = [k for k in needed if k not in error.instance]
            if missing:
                path.append(str(missing[0]))
        return ".".join([self.prefix, *path])


def _scalar(kind: str, raw: str, schema: Mapping[str, Any]) -> Any:
    if kind == "boolean":
        if raw not in {"true", "false"}:
            raise ValueError(N_("Please choose yes or no."))
        return raw == "true"
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(N_("Please enter a whole number.")) from None
    if kind == "number":
        try:
            number = float(raw.replace(",", "."))
        except ValueError:
            raise ValueError(N_("Please enter a number.")) from None
        return int(number) if number.is_integer() else number
    if kind == "enum":
        if raw not in {str(c) for c in schema.get("enum", ())}:
            raise ValueError(N_("Please choose one of the offered options."))
        return raw
    if kind == "datetime":
        moment = local_datetime(raw)
        if moment is None:
            raise ValueError(N_("Please enter a date and time."))
        return moment.isoformat()
    return raw


def _message(error: ValidationError) -> Message:
    validator = str(error.validator)
    value = error.validator_value
    if validator == "required":
        return Message(N_("Please fill in this field."))
    if validator == "maxLength":
        return Message(N_("At most %(count)s characters."), {"count": value})
    if validator == "minLength":
        return Message(N_("Please fill in this field."))
    if validator in {"maximum", "exclusiveMaximum"}:
        return Message(N_("At most %(count)s."), {"count": value})
    if validator in {"minimum", "exclusiveMinimum"}:
        return Message(N_("At least %(count)s."), {"count": value})
    if validator == "maxItems":
        return Message(N_("At most %(count)s rows."), {"count": value})
    if validator == "format" and value == "date":
        return Message(N_("Please enter a date as YYYY-MM-DD."))
    if validator == "format" and value == "email":
        return Message(N_("Please enter an e-mail address."))
    if validator == "pattern":
        return Message(N_("The format is not valid."))
    return Message(N_("This value is not valid."))
