"""Reads and validates the ``policies/`` directory.

Everything is checked when the gateway starts, so a broken file stops the
start instead of a later decision: YAML files against their expected shape
(with line numbers from the YAML marks), answer and parameter schemas as JSON
Schema Draft 2020-12 with every field tagged by ``x-category``, the Cedar
schema, and the Cedar rules against that schema (``cedarpy.validate_policies``).
Problems are collected and raised together as one ``PolicyLoadError`` whose
lines read ``file:line: reason``.

The policy version is ``sha256:<hex>`` over every file of the directory (dot
files excepted), sorted by relative path: for each file, its relative POSIX
path, a NUL byte and the SHA-256 digest of its content.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy
import jsonschema
import yaml

from gateway.policy.models import (
    CONSENT,
    CONSENT_CAPACITY_AGE,
    LABEL_LANGUAGES,
    QUESTION_LABEL_LANGUAGES,
    AdapterKind,
    Catalogue,
    Category,
    Direction,
    District,
    EngineReason,
    FieldCategory,
    Jobcenter,
    JSONValue,
    LegalBasis,
    Limits,
    Municipality,
    Purpose,
    QuestionType,
    Reason,
    Routing,
)

PURPOSES_FILE = "purposes.yaml"
CATEGORIES_FILE = "categories.yaml"
QUESTIONS_FILE = "questions.yaml"
ROUTING_FILE = "routing.yaml"
LIMITS_FILE = "limits.yaml"
REASONS_FILE = "reasons.yaml"
RULES_FILE = "rules.cedar"
SCHEMA_FILE = "schema.cedarschema"
TESTS_DIR = "tests"

CATEGORY_KEYWORD = "x-category"

_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_ID = re.compile(r"^[a-z][a-z0-9_.]*$")
_AGS = re.compile(r"^[0-9]{8}$")
_DISTRICT_KEY = re.compile(r"^[0-9]{5}$")
_JOBCENTER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# A statute is cited by its paragraph or article: "§ 50 Abs. 1 SGB II", "Art. 6 Abs. 1 ...".
_CITATION = re.compile(r"^(§|Art\.) ?[0-9].{2,200}$")

YamlPath = tuple[str | int, ...]


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyProblem:
    """One thing wrong in one file of the policies directory."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or 1}: {self.reason}"


class PolicyLoadError(Exception):
    """The policies directory cannot be used; ``problems`` says where and why."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# --------------------------------------------------------------------------
# YAML with line numbers
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed YAML file and the line (1-based) of every value in it."""

    name: str
    data: JSONValue
    lines: Mapping[YamlPath, int]

    def line_of(self, path: YamlPath) -> int | None:
        """The line of the value at ``path``, or of its nearest ancestor."""
        while True:
            line = self.lines.get(path)
            if line is not None or not path:
                return line
            path = path[:-1]


# libyaml's parser when PyYAML has it: several times faster on a large
# catalogue, with the same marks and the same safe constructor.
_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(*, path: Path, name: str) -> YamlDocument:
    """Parse one YAML file; ``name`` is how problems refer to the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyLoadError([PolicyProblem(file=name, line=None, reason=str(exc))]) from exc
    loader = _YamlLoader(text)
    lines: dict[YamlPath, int] = {}
    try:
        node = loader.get_single_node()
        data = None if node is None else _construct(loader, node, (), lines, name)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        problem = PolicyProblem(
            file=name, line=None if mark is None else mark.line + 1, reason=reason or str(exc)
        )
        raise PolicyLoadError([problem]) from exc
    except yaml.YAMLError as exc:
        raise PolicyLoadError([PolicyProblem(file=name, line=None, reason=str(exc))]) from exc
    finally:
        loader.dispose()
    return YamlDocument(name=name, data=data, lines=lines)


def _construct(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: YamlPath,
    lines: dict[YamlPath, int],
    name: str,
) -> JSONValue:
    # A mapping's entries are located at their key (set below), which is
    # where a reader looks; other values at their own start.
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        # Resolves YAML merge keys (<<) the way SafeLoader itself does.
        loader.flatten_mapping(node)
        result: dict[JSONValue, JSONValue] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise PolicyLoadError(
                    [
                        PolicyProblem(
                            file=name,
                            line=key_node.start_mark.line + 1,
                            reason=f"duplicate key {key!r}",
                        )
                    ]
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _construct(loader, value_node, (*path, key), lines, name)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(loader, item, (*path, index), lines, name)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


# --------------------------------------------------------------------------
# Typed access that collects problems
# --------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[PolicyProblem] = []

    def add(self, *, file: str, line: int | None, reason: str) -> None:
        self.items.append(PolicyProblem(file=file, line=line, reason=reason))

    def raise_if_any(self) -> None:
        if self.items:
            raise PolicyLoadError(self.items)


class _Value:
    """A value at a path of a YAML document; type checks report problems
    with the value's line and return None."""

    def __init__(self, doc: YamlDocument, path: YamlPath, value: JSONValue, problems: _Problems):
        self.doc = doc
        self.path = path
        self.value = value
        self.problems = problems

    @property
    def line(self) -> int | None:
        return self.doc.line_of(self.path)

    @property
    def where(self) -> str:
        return "/".join(str(part) for part in self.path) or "document"

    def fail(self, reason: str) -> None:
        self.problems.add(file=self.doc.name, line=self.line, reason=f"{self.where}: {reason}")

    def child(self, key: str | int, value: JSONValue) -> _Value:
        return _Value(self.doc, (*self.path, key), value, self.problems)

    def mapping(
        self, *, required: Sequence[str] = (), optional: Sequence[str] = ()
    ) -> dict[str, _Value] | None:
        if not isinstance(self.value, dict):
            self.fail("expected a mapping")
            return None
        known = set(required) | set(optional)
        result: dict[str, _Value] = {}
        for key, value in self.value.items():
            if not isinstance(key, str):
                self.child(str(key), value).fail(f"key {key!r} must be a string (quote it)")
            elif known and key not in known:
                self.child(key, value).fail(
                    f"unknown key {key!r}; expected one of {', '.join(sorted(known))}"
                )
            else:
                result[key] = self.child(key, value)
        missing = [key for key in required if key not in result]
        for key in missing:
            self.fail(f"missing key {key!r}")
        return None if missing else result

    def items(self) -> list[_Value] | None:
        if not isinstance(self.value, list):
            self.fail("expected a list")
            return None
        return [self.child(index, value) for index, value in enumerate(self.value)]

    def string(self, *, pattern: re.Pattern[str] | None = None) -> str | None:
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail("expected a non-empty string (quote numbers)")
            return None
        if pattern is not None and not pattern.match(self.value):
            self.fail(f"{self.value!r} does not match {pattern.pattern}")
            return None
        return self.value

    def boolean(self) -> bool | None:
        if not isinstance(self.value, bool):
            self.fail("expected true or false")
            return None
        return self.value

    def integer(self, *, minimum: int, maximum: int) -> int | None:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("expected an integer")
            return None
        if not minimum <= value <= maximum:
            self.fail(f"expected an integer from {minimum} to {maximum}")
            return None
        return value

    def strings(self, *, pattern: re.Pattern[str] | None = None) -> list[str] | None:
        items = self.items()
        if items is None:
            return None
        result = [item.string(pattern=pattern) for item in items]
        if any(value is None for value in result):
            return None
        values = [value for value in result if value is not None]
        if len(set(values)) != len(values):
            self.fail("lists an entry twice")
        return values

    def labels(self, *, languages: Sequence[str]) -> dict[str, str] | None:
        entries = self.mapping()
        if entries is None:
            return None
        labels: dict[str, str] = {}
        for language, value in entries.items():
            text = value.string()
            if text is not None:
                labels[language] = text
        missing = [language for language in languages if language not in entries]
        if missing:
            self.fail(f"labels missing for {', '.join(missing)}")
        return labels


def _top_list(doc: YamlDocument, key: str, problems: _Problems) -> list[_Value]:
    root = _Value(doc, (), doc.data, problems).mapping(required=[key])
    if root is None:
        return []
    return root[key].items() or []


# --------------------------------------------------------------------------
# The YAML files
# --------------------------------------------------------------------------


def _parse_categories(doc: YamlDocument, problems: _Problems) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for item in _top_list(doc, "categories", problems):
        entry = item.mapping(required=["id", "special", "labels"])
        if entry is None:
            continue
        category_id = entry["id"].string(pattern=_ID)
        special = entry["special"].boolean()
        labels = entry["labels"].labels(languages=LABEL_LANGUAGES)
        if category_id is None or special is None or labels is None:
            continue
        if category_id in categories:
            entry["id"].fail(f"category {category_id!r} is defined twice")
            continue
        categories[category_id] = Category(id=category_id, special=special, labels=labels)
    return categories


def _parse_purposes(
    doc: YamlDocument, categories: Mapping[str, Category], problems: _Problems
) -> dict[str, Purpose]:
    purposes: dict[str, Purpose] = {}
    for item in _top_list(doc, "purposes", problems):
        entry = item.mapping(required=["id", "categories", "labels"])
        if entry is None:
            continue
        purpose_id = entry["id"].string(pattern=_ID)
        listed = entry["categories"].strings()
        labels = entry["labels"].labels(languages=LABEL_LANGUAGES)
        if purpose_id is None or listed is None or labels is None:
            continue
        unknown = [c for c in listed if c not in categories]
        if unknown:
            entry["categories"].fail(f"unknown category {unknown[0]!r} (see {CATEGORIES_FILE})")
            continue
        if purpose_id in purposes:
            entry["id"].fail(f"purpose {purpose_id!r} is defined twice")
            continue
        purposes[purpose_id] = Purpose(id=purpose_id, categories=tuple(listed), labels=labels)
    return purposes


def _parse_questions(
    doc: YamlDocument,
    purposes: Mapping[str, Purpose],
    categories: Mapping[str, Category],
    problems: _Problems,
) -> dict[str, QuestionType]:
    questions: dict[str, QuestionType] = {}
    for item in _top_list(doc, "questions", problems):
        question = _parse_question(item, purposes, categories)
        if question is None:
            continue
        if question.id in questions:
            item.child("id", question.id).fail(f"question {question.id!r} is defined twice")
            continue
        questions[question.id] = question
    return questions


def _parse_question(
    item: _Value, purposes: Mapping[str, Purpose], categories: Mapping[str, Category]
) -> QuestionType | None:
    entry = item.mapping(
        required=["id", "direction", "purpose", "categories", "deadline_days", "answer_schema"],
        optional=["free_text", "labels", "parameters_schema", "legal_basis"],
    )
    if entry is None:
        return None
    legal_basis = _parse_legal_basis(entry["legal_basis"]) if "legal_basis" in entry else CONSENT
    question_id = entry["id"].string(pattern=_ID)
    direction_text = entry["direction"].string()
    direction: Direction | None = None
    if direction_text is not None:
        try:
            direction = Direction(direction_text)
        except ValueError:
            entry["direction"].fail(
                f"{direction_text!r} is not one of {', '.join(d.value for d in Direction)}"
            )
    purpose_id = entry["purpose"].string()
    purpose = None if purpose_id is None else purposes.get(purpose_id)
    if purpose_id is not None and purpose is None:
        entry["purpose"].fail(f"unknown purpose {purpose_id!r} (see {PURPOSES_FILE})")
    needed = entry["categories"].strings()
    if needed is not None and not needed:
        entry["categories"].fail("a question needs at least one category")
        needed = None
    if needed is not None and purpose is not None:
        outside = [c for c in needed if c not in purpose.categories]
        if outside:
            entry["categories"].fail(
                f"category {outside[0]!r} is not allowed for purpose {purpose.id!r}"
            )
            needed = None
    deadline_days = entry["deadline_days"].integer(minimum=1, maximum=365)
    free_text = entry["free_text"].boolean() if "free_text" in entry else False
    labels: dict[str, str] | None = {}
    if "labels" in entry:
        labels = entry["labels"].labels(languages=QUESTION_LABEL_LANGUAGES)
    allowed = frozenset(purpose.categories) if purpose is not None else frozenset(categories)
    answer_schema = _check_json_schema(entry["answer_schema"])
    answer_fields: list[FieldCategory] | None = None
    if answer_schema is not None:
        answer_fields = _tagged_fields(entry["answer_schema"], allowed=allowed)
    parameters_schema: dict[str, JSONValue] | None = None
    if "parameters_schema" in entry:
        parameters_schema = _check_json_schema(entry["parameters_schema"])
        if parameters_schema is not None and needed is not None:
            # Parameters always travel with the question, so their categories
            # must be needed ones: the consent is checked against those.
            for parameter in _tagged_fields(entry["parameters_schema"], allowed=allowed) or []:
                if parameter.category not in needed:
                    entry["parameters_schema"].fail(
                        f"parameter {parameter.path or '/'} has category "
                        f"{parameter.category!r}, which the question does not need"
                    )
                    parameters_schema = None
    if answer_fields is not None and needed is not None:
        root = next((f for f in answer_fields if f.path == ""), None)
        if root is not None and root.category not in needed:
            entry["answer_schema"].fail(
                f"the whole answer is tagged {root.category!r}, which the question does not need"
            )
            answer_fields = None
    if (
        question_id is None
        or direction is None
        or purpose is None
        or needed is None
        or deadline_days is None
        or free_text is None
        or labels is None
        or answer_schema is None
        or answer_fields is None
        or ("parameters_schema" in entry and parameters_schema is None)
        or legal_basis is None
    ):
        return None
    return QuestionType(
        id=question_id,
        direction=direction,
        purpose=purpose.id,
        categories=tuple(needed),
        special_categories=tuple(c for c in needed if categories[c].special),
        answer_schema=answer_schema,
        parameters_schema=parameters_schema,
        deadline_days=deadline_days,
        free_text=free_text,
        labels=labels,
        answer_fields=tuple(answer_fields),
        legal_basis=legal_basis,
    )


def _parse_legal_basis(value: _Value) -> LegalBasis | None:
    """``consent`` (the default), or ``{statute: <the paragraph>}``."""
    if value.value == "consent":
        return CONSENT
    entry = value.mapping(required=["statute"])
    if entry is None:
        return None
    citation = entry["statute"].string(pattern=_CITATION)
    return None if citation is None else LegalBasis(statute=citation)


@functools.cache
def _metaschema_validator() -> jsonschema.Draft202012Validator:
    # What Draft202012Validator.check_schema does, built once: building the
    # metaschema validator is most of the cost of checking one schema.
    validator = jsonschema.Draft202012Validator
    return validator(validator.META_SCHEMA, format_checker=validator.FORMAT_CHECKER)


def _check_json_schema(value: _Value) -> dict[str, JSONValue] | None:
    schema = value.value
    if not isinstance(schema, dict):
        value.fail("expected a JSON Schema (a mapping)")
        return None
    for path, bad in _non_json(schema, value.path):
        value.problems.add(
            file=value.doc.name,
            line=value.doc.line_of(path),
            reason=f"{'/'.join(map(str, path))}: {bad!r} is not a JSON value (quote it)",
        )
        return None
    error = jsonschema.exceptions.best_match(_metaschema_validator().iter_errors(schema))
    if error is not None:
        path = (*value.path, *error.absolute_path)
        value.problems.add(
            file=value.doc.name,
            line=value.doc.line_of(path),
            reason=f"{'/'.join(map(str, path))}: not a valid JSON Schema: {error.message}",
        )
        return None
    if schema.get("type") != "object":
        value.fail("the schema must describe an object (type: object)")
        return None
    return schema


def _non_json(value: JSONValue, path: YamlPath) -> Iterator[tuple[YamlPath, JSONValue]]:
    """Values YAML reads that JSON does not have (dates, timestamps, binary)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield (*path, str(key)), key
            else:
                yield from _non_json(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_json(item, (*path, index))
    elif value is not None and not isinstance(value, str | int | float | bool):
        yield path, value


def _tagged_fields(value: _Value, *, allowed: frozenset[str]) -> list[FieldCategory] | None:
    """The ``x-category`` tags of a schema; every field must have one, by
    itself or inherited from an enclosing field."""
    fields: list[FieldCategory] = []
    failures = len(value.problems.items)
    _walk_schema(value, field_path="", inherited=None, allowed=allowed, out=fields)
    return None if len(value.problems.items) > failures else fields


def _walk_schema(
    node: _Value,
    *,
    field_path: str,
    inherited: str | None,
    allowed: frozenset[str],
    out: list[FieldCategory],
) -> None:
    schema = node.value
    if not isinstance(schema, dict):
        return
    own = schema.get(CATEGORY_KEYWORD)
    if own is not None:
        if not isinstance(own, str) or own not in allowed:
            node.child(CATEGORY_KEYWORD, own).fail(
                f"{own!r} is not a category of this question's purpose"
            )
            return
        out.append(FieldCategory(path=field_path, category=own))
    effective = own if own is not None else inherited
    properties = schema.get("properties")
    items = schema.get("items")
    if isinstance(properties, dict):
        container = node.child("properties", properties)
        for name, sub in properties.items():
            if "/" in name or name == "*":
                # "/" and "*" are the separators of field paths (drop_fields).
                container.child(name, sub).fail("a field name must not contain '/' or be '*'")
                continue
            _walk_schema(
                container.child(name, sub),
                field_path=f"{field_path}/{name}",
                inherited=effective,
                allowed=allowed,
                out=out,
            )
    if isinstance(items, dict):
        _walk_schema(
            node.child("items", items),
            field_path=f"{field_path}/*",
            inherited=effective,
            allowed=allowed,
            out=out,
        )
    if effective is not None:
        return
    if not isinstance(properties, dict) and not isinstance(items, dict):
        node.fail(f"field {field_path or '/'} has no {CATEGORY_KEYWORD}")
    elif isinstance(properties, dict) and schema.get("additionalProperties") is not False:
        # Untagged extra properties could carry data of any category.
        node.fail(f"field {field_path or '/'} needs additionalProperties: false or a category")


def _parse_routing(doc: YamlDocument, problems: _Problems) -> Routing:
    root = _Value(doc, (), doc.data, problems).mapping(
        required=["jobcenters"], optional=["districts", "municipalities"]
    )
    jobcenters: dict[str, Jobcenter] = {}
    districts: dict[str, District] = {}
    municipalities: dict[str, Municipality] = {}
    if root is None:
        return Routing(jobcenters=jobcenters, districts=districts, municipalities=municipalities)
    for item in root["jobcenters"].items() or []:
        entry = item.mapping(required=["key", "name", "adapter"], optional=["endpoint"])
        if entry is None:
            continue
        key = entry["key"].string(pattern=_JOBCENTER_KEY)
        name = entry["name"].string()
        adapter_text = entry["adapter"].string()
        adapter: AdapterKind | None = None
        if adapter_text is not None:
            try:
                adapter = AdapterKind(adapter_text)
            except ValueError:
                entry["adapter"].fail(
                    f"{adapter_text!r} is not one of {', '.join(a.value for a in AdapterKind)}"
                )
        endpoint = entry["endpoint"].string() if "endpoint" in entry else None
        if adapter is AdapterKind.REST and "endpoint" not in entry:
            item.fail("a jobcenter with adapter rest needs an endpoint")
            continue
        if endpoint is not None and not endpoint.startswith("https://"):
            entry["endpoint"].fail("the endpoint must be an https:// URL")
            continue
        if key is None or name is None or adapter is None:
            continue
        if key in jobcenters:
            entry["key"].fail(f"jobcenter {key!r} is listed twice")
            continue
        jobcenters[key] = Jobcenter(key=key, name=name, adapter=adapter, endpoint=endpoint)
    district_items = root["districts"].items() if "districts" in root else []
    for item in district_items or []:
        entry = item.mapping(required=["key", "name", "jobcenter"])
        if entry is None:
            continue
        key = entry["key"].string(pattern=_DISTRICT_KEY)
        name = entry["name"].string()
        jobcenter = _known_jobcenter(entry["jobcenter"], jobcenters)
        if key is None or name is None or jobcenter is None:
            continue
        if key in districts:
            entry["key"].fail(f"district {key!r} is listed twice")
            continue
        districts[key] = District(key=key, name=name, jobcenter=jobcenter)
    municipality_items = root["municipalities"].items() if "municipalities" in root else []
    for item in municipality_items or []:
        entry = item.mapping(required=["ags", "name", "jobcenter"])
        if entry is None:
            continue
        ags = entry["ags"].string(pattern=_AGS)
        name = entry["name"].string()
        jobcenter = _known_jobcenter(entry["jobcenter"], jobcenters)
        if ags is None or name is None or jobcenter is None:
            continue
        if ags in municipalities:
            entry["ags"].fail(f"municipality {ags!r} is listed twice")
            continue
        municipalities[ags] = Municipality(ags=ags, name=name, jobcenter=jobcenter)
    return Routing(jobcenters=jobcenters, districts=districts, municipalities=municipalities)


def _known_jobcenter(value: _Value, jobcenters: Mapping[str, Jobcenter]) -> str | None:
    key = value.string()
    if key is not None and key not in jobcenters:
        value.fail(f"unknown jobcenter {key!r} (list it under jobcenters)")
        return None
    return key


def _parse_limits(doc: YamlDocument, problems: _Problems) -> Limits | None:
    root = _Value(doc, (), doc.data, problems).mapping(
        required=[
            "questions_per_user_per_subject_per_day",
            "consent_max_validity_days",
            "answer_retention_days",
        ],
        optional=["consent_capacity_age"],
    )
    if root is None:
        return None
    per_day = root["questions_per_user_per_subject_per_day"].integer(minimum=1, maximum=10_000)
    max_days = root["consent_max_validity_days"].integer(minimum=1, maximum=1100)
    retention = root["answer_retention_days"].integer(minimum=1, maximum=365)
    capacity = (
        root["consent_capacity_age"].integer(minimum=0, maximum=18)
        if "consent_capacity_age" in root
        else CONSENT_CAPACITY_AGE
    )
    if per_day is None or max_days is None or retention is None or capacity is None:
        return None
    return Limits(
        questions_per_user_per_subject_per_day=per_day,
        consent_max_validity_days=max_days,
        answer_retention_days=retention,
        consent_capacity_age=capacity,
    )


def _parse_reasons(doc: YamlDocument, problems: _Problems) -> dict[str, Reason]:
    reasons: dict[str, Reason] = {}
    for item in _top_list(doc, "reasons", problems):
        entry = item.mapping(required=["code", "title"])
        if entry is None:
            continue
        code = entry["code"].string(pattern=_ID)
        titles = entry["title"].labels(languages=("en", "de"))
        if code is None or titles is None:
            continue
        if code in reasons:
            entry["code"].fail(f"reason {code!r} is listed twice")
            continue
        reasons[code] = Reason(code=code, titles=titles)
    missing = [code.value for code in EngineReason if code.value not in reasons]
    if missing and not problems.items:
        problems.add(
            file=doc.name, line=1, reason=f"the engine's reason {missing[0]!r} must be listed"
        )
    return reasons


# --------------------------------------------------------------------------
# Cedar
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One Cedar policy of rules.cedar, as the engine and the tests see it."""

    id: str
    effect: str
    reason: str | None
    line: int
    #: the actions the rule applies to (None: every action); groups are named as such
    actions: frozenset[str] | None = None
    #: the rule as written in rules.cedar
    text: str = ""


@dataclass(frozen=True, slots=True)
class _Statement:
    line: int
    text: str


def _actions_of(constraint: Mapping[str, Any]) -> frozenset[str] | None:
    """The action ids of a policy's action constraint (Cedar's JSON policy format)."""
    if constraint.get("op") == "All":
        return None
    entities = constraint.get("entities") or [constraint.get("entity") or {}]
    return frozenset(str(entity.get("id")) for entity in entities if entity.get("id"))


def split_statements(text: str) -> list[_Statement]:
    """Split Cedar text at top-level semicolons, skipping comments and strings,
    so each policy (or schema declaration) is known with its first line."""
    statements: list[_Statement] = []
    start: int | None = None
    depth = 0
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == "/" and text.startswith("//", index):
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        if char.isspace():
            index += 1
            continue
        if start is None:
            start = index
        if char == '"':
            index += 1
            while index < length and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char in "{([":
            depth += 1
        elif char in "})]":
            depth -= 1
        elif char == ";" and depth <= 0:
            statements.append(
                _Statement(line=text.count("\n", 0, start) + 1, text=text[start : index + 1])
            )
            start = None
        index += 1
    if start is not None:
        statements.append(_Statement(line=text.count("\n", 0, start) + 1, text=text[start:]))
    return statements


def _parse_cedar_schema(
    text: str, problems: _Problems, *, name: str = SCHEMA_FILE
) -> cedarpy.Schema | None:
    try:
        return cedarpy.Schema.from_str(text)
    except ValueError as exc:
        message = str(exc)
    line: int | None = None
    statements = split_statements(text)
    if message.startswith("error parsing schema"):
        # The first prefix that no longer parses ends in the broken declaration.
        for count in range(1, len(statements) + 1):
            prefix = "\n".join(statement.text for statement in statements[:count])
            try:
                cedarpy.Schema.from_str(prefix)
            except ValueError as exc:
                if str(exc).startswith("error parsing schema"):
                    line = statements[count - 1].line
                    break
    else:
        line = _line_naming(text, message)
    problems.add(file=name, line=line, reason=message)
    return None


def _line_naming(text: str, message: str) -> int | None:
    """The first non-comment line mentioning the name an error message ends with."""
    match = re.search(r"([A-Za-z_][A-Za-z0-9_:]*)`?\s*$", message)
    if match is None:
        return None
    word = re.compile(rf"\b{re.escape(match.group(1))}\b")
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("//", 1)[0]
        if word.search(code):
            return number
    return None


def _parse_rules(
    text: str,
    schema: cedarpy.Schema | None,
    reasons: Mapping[str, Reason],
    problems: _Problems,
    *,
    name: str = RULES_FILE,
) -> tuple[cedarpy.PolicySet | None, dict[str, Rule]]:
    statements = split_statements(text)
    broken = False
    for statement in statements:
        try:
            cedarpy.PolicySet.from_str(statement.text)
        except ValueError as exc:
            problems.add(file=name, line=statement.line, reason=f"cannot parse rule: {exc}")
            broken = True
    if broken:
        return None, {}
    try:
        policy_set = cedarpy.PolicySet.from_str(text)
        as_json = cedarpy.policies_to_json_str(text)
    except ValueError as exc:
        problems.add(file=name, line=None, reason=f"cannot parse rules: {exc}")
        return None, {}
    document = json.loads(as_json)
    if document.get("templates"):
        problems.add(file=name, line=None, reason="templates (?principal, ?resource) are not used")
    static = document.get("staticPolicies", {})
    # Cedar numbers the policies policy0, policy1 ... in the order of the text.
    ordered = sorted(static.items(), key=lambda item: int(item[0].removeprefix("policy")))
    rules: dict[str, Rule] = {}
    line_of_cedar_id: dict[str, int] = {}
    for index, (cedar_id, policy) in enumerate(ordered):
        line = statements[index].line if index < len(statements) else 1
        line_of_cedar_id[cedar_id] = line
        annotations = policy.get("annotations", {})
        rule_id = annotations.get("id")
        reason = annotations.get("reason")
        effect = policy.get("effect", "")
        if not rule_id:
            problems.add(file=name, line=line, reason='every rule needs an @id("...") annotation')
            continue
        if not _RULE_ID.match(rule_id):
            problems.add(
                file=name, line=line, reason=f"@id {rule_id!r} must match {_RULE_ID.pattern}"
            )
            continue
        if rule_id in rules:
            problems.add(file=name, line=line, reason=f"@id {rule_id!r} is used twice")
            continue
        if effect == "forbid" and not reason:
            problems.add(
                file=name, line=line, reason=f'forbid {rule_id!r} needs a @reason("...") code'
            )
            continue
        if reason and reason not in reasons:
            problems.add(
                file=name, line=line, reason=f"@reason {reason!r} is not listed in {REASONS_FILE}"
            )
            continue
        rules[rule_id] = Rule(
            id=rule_id,
            effect=effect,
            reason=reason,
            line=line,
            actions=_actions_of(policy.get("action", {})),
            text=statements[index].text if index < len(statements) else "",
        )
    if schema is not None:
        result = cedarpy.validate_policies(text, schema)
        for error in result.errors:
            problems.add(
                file=name,
                line=line_of_cedar_id.get(error.policy_id),
                reason=f"does not fit {SCHEMA_FILE}: {error.error}",
            )
    return policy_set, rules


# --------------------------------------------------------------------------
# The whole directory
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedPolicies:
    """Everything read from one policies directory, validated."""

    directory: Path
    version: str
    catalogue: Catalogue
    routing: Routing
    limits: Limits
    reasons: Mapping[str, Reason]
    rules: Mapping[str, Rule]
    cedar_policies: cedarpy.PolicySet
    cedar_schema: cedarpy.Schema


def policy_version(*, directory: Path) -> str:
    """``sha256:<hex>`` over every file below ``directory`` (see module doc)."""
    digest = hashlib.sha256()
    for relative, path in sorted(_policy_files(directory)):
        digest.update(relative.encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return f"sha256:{digest.hexdigest()}"


def _policy_files(directory: Path) -> Iterator[tuple[str, Path]]:
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        # Editor swap files, caches and VCS data are not policy.
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if path.is_file():
            yield relative.as_posix(), path


def load_policies(*, directory: Path) -> LoadedPolicies:
    """Read, validate and version the policies directory; raise
    ``PolicyLoadError`` naming every problem found."""
    if not directory.is_dir():
        raise PolicyLoadError(
            [PolicyProblem(file=str(directory), line=None, reason="not a directory")]
        )
    problems = _Problems()
    docs: dict[str, YamlDocument] = {}
    for name in (
        CATEGORIES_FILE,
        PURPOSES_FILE,
        QUESTIONS_FILE,
        ROUTING_FILE,
        LIMITS_FILE,
        REASONS_FILE,
    ):
        try:
            docs[name] = read_yaml(path=directory / name, name=name)
        except PolicyLoadError as exc:
            problems.items.extend(exc.problems)
    problems.raise_if_any()

    categories = _parse_categories(docs[CATEGORIES_FILE], problems)
    purposes = _parse_purposes(docs[PURPOSES_FILE], categories, problems)
    questions = _parse_questions(docs[QUESTIONS_FILE], purposes, categories, problems)
    routing = _parse_routing(docs[ROUTING_FILE], problems)
    limits = _parse_limits(docs[LIMITS_FILE], problems)
    reasons = _parse_reasons(docs[REASONS_FILE], problems)

    texts: dict[str, str] = {}
    for name in (SCHEMA_FILE, RULES_FILE):
        try:
            texts[name] = (directory / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.add(file=name, line=None, reason=str(exc))
    cedar_schema: cedarpy.Schema | None = None
    cedar_policies: cedarpy.PolicySet | None = None
    rules: dict[str, Rule] = {}
    if SCHEMA_FILE in texts:
        cedar_schema = _parse_cedar_schema(texts[SCHEMA_FILE], problems)
    if RULES_FILE in texts:
        cedar_policies, rules = _parse_rules(texts[RULES_FILE], cedar_schema, reasons, problems)
    problems.raise_if_any()
    # Without problems every part was built; the asserts tell mypy so.
    assert limits is not None
    assert cedar_schema is not None
    assert cedar_policies is not None
    return LoadedPolicies(
        directory=directory,
        version=policy_version(directory=directory),
        catalogue=Catalogue(purposes=purposes, categories=categories, questions=questions),
        routing=routing,
        limits=limits,
        reasons=reasons,
        rules=rules,
        cedar_policies=cedar_policies,
        cedar_schema=cedar_schema,
    )
