"""The one port through which the gateway hands a query to whoever answers it.

Adapters know nothing of the database: the gateway gives them a
``DeliveredQuery`` (everything the answering side needs, already reduced to
what the consent allows) and gets back a ``Delivery``. The exception tree::

    AdapterError                 the query stays routed; the scheduler decides to retry or fail
    ├── AdapterTimeout           no answer within the timeout
    ├── AdapterUnavailable       connection refused, TLS failure, 5xx, circuit open
    │   └── CircuitOpen          too many recent failures for this jobcenter
    ├── AdapterRejected          the other side refused the request (4xx): retrying will not help
    └── AdapterProtocolError     malformed, oversized or off-contract response: not retried
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol


class AdapterError(Exception):
    """Delivery did not succeed. ``retryable`` says whether trying again may help."""

    retryable: bool = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AdapterTimeout(AdapterError):
    pass


class AdapterUnavailable(AdapterError):
    pass


class CircuitOpen(AdapterUnavailable):
    pass


class AdapterRejected(AdapterError):
    retryable = False


class AdapterProtocolError(AdapterError):
    retryable = False


@dataclass(frozen=True)
class PersonReference:
    """Who the question is about, as the answering side's records know them."""

    subject_id: str
    given_name: str
    family_name: str
    birth_date: date
    jobcenter_customer_number: str | None = None


@dataclass(frozen=True)
class ConsentSummary:
    consent_id: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    valid_until: datetime


@dataclass(frozen=True)
class LegalBasisSummary:
    """Why the question may be asked: ``consent`` (then ``consent`` is set), or a
    ``statute`` named by ``citation`` (then there is no consent)."""

    kind: str = "consent"
    citation: str | None = None


@dataclass(frozen=True)
class DeliveredQuery:
    query_id: str  # also the idempotency key of every delivery attempt
    jobcenter_key: str
    question: str
    purpose: str
    direction: str
    person: PersonReference
    consent: ConsentSummary | None  # None for a question a statute allows
    deadline: datetime
    parameters: dict[str, Any] = field(default_factory=dict)
    callback_url: str | None = None
    traceparent: str | None = None
    legal_basis: LegalBasisSummary = field(default_factory=LegalBasisSummary)


class DeliveryOutcome(StrEnum):
    ANSWERED = "answered"  # the answer came back in the same exchange
    ACCEPTED = "accepted"  # the other side will answer later (callback, poll or inbox)


@dataclass(frozen=True)
class Delivery:
    outcome: DeliveryOutcome
    answer: dict[str, Any] | None = None


@dataclass(frozen=True)
class AdapterHealth:
    ok: bool
    detail: str = ""


class JobcenterAdapter(Protocol):
    """How a jobcenter (or, in the other direction, a municipality) answers."""

    kind: str

    def deliver(self, query: DeliveredQuery) -> Delivery:
        """Hand the query over; idempotent for the same ``query_id``."""
        ...

    def fetch_answer(self, query_id: str) -> dict[str, Any] | None:
        """Ask for an answer given later; None while there is none yet."""
        ...

    def health(self) -> AdapterHealth:
        """Whether the answering side can take queries now."""
        ...


class InboxAdapter:
    """People answer in the gateway's web inbox: delivery only marks the query as waiting."""

    kind = "inbox"

    def deliver(self, query: DeliveredQuery) -> Delivery:
        return Delivery(outcome=DeliveryOutcome.ACCEPTED)

    def fetch_answer(self, query_id: str) -> dict[str, Any] | None:
        return None  # answers arrive through POST /v1/queries/{id}/answer

    def health(self) -> AdapterHealth:
        return AdapterHealth(ok=True, detail="answered by people in the inbox")
