"""structlog configuration: JSON lines with request and trace ids, and a redaction processor.

The redaction processor is the last line of defence: code never logs personal
data on purpose, and any key that could carry it is replaced before output.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values may be personal data or secrets; matched case-insensitively.
REDACTED_KEYS = frozenset(
    {
        "given_name",
        "family_name",
        "name",
        "birth_date",
        "email",
        "jobcenter_customer_number",
        "customer_number",
        "answer",
        "note",
        "parameters",
        "password",
        "token",
        "access_token",
        "assertion",
        "client_assertion",
        "secret",
        "authorization",
        "query_string",
    }
)
REDACTED = "[redacted]"


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in REDACTED_KEYS:
            event[key] = REDACTED
    return event


def configure(*, level: str = "INFO", json_output: bool = True) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
