"""Reading and checking submitted forms: typed values, or messages next to the fields.

A form keeps exactly what the user typed (``values``) so a rejected form is
shown again as it was, with one message per field (``errors``). Messages are
gettext ``msgid``s with their parameters and are translated when rendered.
The services check everything again; these checks give people a clear
message at the right field before the services are asked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

BERLIN = ZoneInfo("Europe/Berlin")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
CUSTOMER_NUMBER = re.compile(r"^[A-Za-z0-9-]{3,30}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SIGNATURE_PREFIX = "data:image/png;base64,"
REVOCATION_CHANNELS = ("in_person", "phone", "letter", "email")
EVIDENCE_CHANNELS = ("screen_signature", "own_phone", "paper_signature")


def N_(message: str) -> str:
    """Mark a msgid for the catalogues; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Message:
    """A message for a field: an English msgid and its parameters, translated when shown."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Form:
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Message] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: FormData, *, lists: Iterable[str] = ()) -> Form:
        many = set(lists)
        values: dict[str, Any] = {}
        for key in data:
            if key in many:
                values[key] = [str(v) for v in data.getlist(key)]
            else:
                values[key] = str(data.get(key) or "")
        for key in many:
            values.setdefault(key, [])
        return cls(values=values)

    @property
    def ok(self) -> bool:
        return not self.errors

    def text(self, name: str) -> str:
        value = self.values.get(name, "")
        return value.strip() if isinstance(value, str) else ""

    def many(self, name: str) -> list[str]:
        value = self.values.get(name, [])
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    def fail(self, name: str, text: str, **params: Any) -> None:
        # The first problem of a field is the one worth telling.
        self.errors.setdefault(name, Message(text, params))

    def required(self, name: str, *, max_length: int = 200) -> str:
        value = self.text(name)
        if not value:
            self.fail(name, N_("Please fill in this field."))
        elif len(value) > max_length:
            self.fail(name, N_("At most %(count)s characters."), count=max_length)
        return value

    def optional(self, name: str, *, max_length: int = 200) -> str | None:
        value = self.text(name)
        if len(value) > max_length:
            self.fail(name, N_("At most %(count)s characters."), count=max_length)
        return value or None

    def date(self, name: str, *, required: bool = True) -> date | None:
        value = self.text(name)
        if not value:
            if required:
                self.fail(name, N_("Please enter a date."))
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(name, N_("Please enter a date as YYYY-MM-DD."))
            return None

    def choice(self, name: str, choices: Sequence[str], *, required: bool = True) -> str | None:
        value = self.text(name)
        if not value:
            if required:
                self.fail(name, N_("Please choose one."))
            return None
        if value not in choices:
            self.fail(name, N_("Please choose one of the offered options."))
            return None
        return value

    def choices(self, name: str, choices: Sequence[str], *, at_least: int = 0) -> list[str]:
        values = self.many(name)
        if any(value not in choices for value in values):
            self.fail(name, N_("Please choose only offered options."))
            return []
        if len(values) < at_least:
            self.fail(name, N_("Please choose at least one."))
        return list(dict.fromkeys(values))


def local_datetime(value: str) -> datetime | None:
    """``<input type=datetime-local>`` means Berlin time; the services speak RFC 3339."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=BERLIN)


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=BERLIN)
