"""Reports for data protection officers and the person: subject access (GDPR Art. 15), anomalies.

Subject access report: every recorded event about one person, in plain
language in the person's language, each with an RFC 9162 inclusion proof to a
signed checkpoint, so the person (or anyone they ask) can check that the
entries are the ones the gateway committed to.

Anomaly report: per user, over a time window, four measures taken from the
trail — questions asked, questions denied, questions asked out of hours
(before 7:00, after 19:00 or on weekends, Berlin time) and the number of
distinct persons asked about. A user stands out when a measure reaches at
least three times the median of the *other* users of the same organisation
and at least a minimum count (so a quiet office does not flag on two
questions). With no colleagues the baseline is zero and the minimum decides.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from gateway.audit import subtrees
from gateway.audit.models import AuditEventRow
from gateway.audit.repository import EventFilter, find_events
from gateway.audit.service import AuditTrail
from gateway.clock import as_utc, utcnow
from gateway.consents import repository as consents
from gateway.consents.texts import ConsentTexts
from gateway.organisations import repository as organisations
from gateway.policy.models import Catalogue

BERLIN = ZoneInfo("Europe/Berlin")
ASKING = ("query.asked", "query.denied")
MINIMUMS = {"questions": 20, "denied": 5, "out_of_hours": 5, "persons": 10}
FACTOR = 3.0
MAX_REPORT_EVENTS = 5000


# -- subject access report --------------------------------------------------------


def _label(sections: Mapping[str, Any], fallback: Mapping[str, Any], key: str, default: str) -> str:
    for source in (sections, fallback):
        value = source.get("access_report", {}).get("actions", {}).get(key)
        if value:
            return str(value)
    return default


def subject_access_report(
    session: Session,
    *,
    audit: AuditTrail,
    catalogue: Catalogue,
    texts: ConsentTexts,
    subject_id: str,
    language: str,
    visible_to: set[str] | None,
    only_seqs: set[int] | None = None,
) -> dict[str, Any]:
    """The person's events; ``visible_to`` limits them to organisations' own (None: all),
    ``only_seqs`` to those events (a self-service code's)."""
    audit.checkpoint_if_due(session, force=True)  # so every entry below has a proof
    checkpoint = audit.latest_checkpoint(session) if audit_has_events(session) else None
    rows = find_events(session, EventFilter(subject_id=subject_id), limit=MAX_REPORT_EVENTS)
    if visible_to is not None:
        rows = [row for row in rows if _concerns(session, row, visible_to)]
    if only_seqs is not None:
        rows = [row for row in rows if row.seq in only_seqs]
    text = texts.get(language if language in texts.languages else "de")
    fallback = texts.get("en").sections if "en" in texts.languages else {}
    report_labels = dict(text.sections.get("access_report", {}))
    names: dict[str, str] = {}

    def name(organisation_id: str | None) -> str | None:
        if organisation_id is None:
            return None
        if organisation_id not in names:
            found = organisations.get_organisation(session, organisation_id)
            names[organisation_id] = found.name if found else organisation_id
        return names[organisation_id]

    entries = []
    for row in rows:
        event = json.loads(row.event)
        question_id = (event.get("details") or {}).get("question")
        question = catalogue.questions.get(question_id) if question_id else None
        purpose = catalogue.purposes.get(row.purpose) if row.purpose else None
        proof = None
        if checkpoint and row.seq <= checkpoint.tree_size:
            proof = {
                "leaf_index": row.seq - 1,
                "tree_size": checkpoint.tree_size,
                "leaf_hash": row.leaf_hash,
                "audit_path": [
                    h.hex()
                    for h in subtrees.inclusion_proof(
                        session, index=row.seq - 1, size=checkpoint.tree_size
                    )[1]
                ],
            }
        entries.append(
            {
                "seq": row.seq,
                "time": as_utc(row.occurred_at).isoformat(),
                "event_type": row.event_type,
                "action": _label(text.sections, fallback, row.event_type, row.event_type),
                "organisation": name(row.organisation_id),
                "purpose": purpose.labels.get(language, purpose.labels.get("en", purpose.id))
                if purpose
                else None,
                "question": question.labels.get(language, question.labels.get("en", question.id))
                if question
                else None,
                "consent_id": row.consent_id,
                "decision": row.decision,
                "proof": proof,
            }
        )
    return {
        "subject_id": subject_id,
        "language": text.language,
        "direction": text.direction,
        "generated_at": utcnow().isoformat(),
        "labels": report_labels,
        "checkpoint": checkpoint.public() if checkpoint else None,
        "entries": entries,
    }


def audit_has_events(session: Session) -> bool:
    return session.exec(select(AuditEventRow.seq).limit(1)).first() is not None


def _concerns(session: Session, row: AuditEventRow, organisation_ids: set[str]) -> bool:
    if row.organisation_id in organisation_ids:
        return True
    if row.consent_id is None:
        return False
    consent = consents.get(session, row.consent_id)
    return consent is not None and bool(
        {consent.grantee_id, consent.jobcenter_id} & organisation_ids
    )


# -- anomalies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    organisation_id: str
    user_id: str
    measure: str
    value: int
    baseline: float
    threshold: float
    events: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation_id": self.organisation_id,
            "user_id": self.user_id,
            "measure": self.measure,
            "value": self.value,
            "baseline": self.baseline,
            "threshold": self.threshold,
            "events": self.events,
        }


def _out_of_hours(moment: datetime) -> bool:
    local = as_utc(moment).astimezone(BERLIN)
    return local.weekday() >= 5 or not 7 <= local.hour < 19


def anomalies(
    session: Session, *, organisation_id: str | None, since: datetime, until: datetime
) -> list[Finding]:
    # Five columns: beyond sqlmodel's typed select, so SQLAlchemy's own.
    query = sa_select(
        col(AuditEventRow.organisation_id),
        col(AuditEventRow.user_id),
        col(AuditEventRow.event_type),
        col(AuditEventRow.occurred_at),
        col(AuditEventRow.subject_id),
    ).where(
        col(AuditEventRow.event_type).in_(ASKING),
        col(AuditEventRow.occurred_at) >= since,
        col(AuditEventRow.occurred_at) < until,
        col(AuditEventRow.user_id).is_not(None),
    )
    if organisation_id is not None:
        query = query.where(col(AuditEventRow.organisation_id) == organisation_id)
    measures: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for org, user, kind, moment, subject in session.execute(query):
        if org is None or user is None:
            continue
        entry = measures[org].setdefault(
            user, {"questions": 0, "denied": 0, "out_of_hours": 0, "persons": set()}
        )
        entry["questions"] += 1
        entry["denied"] += kind == "query.denied"
        entry["out_of_hours"] += _out_of_hours(moment)
        if subject:
            entry["persons"].add(subject)
    findings: list[Finding] = []
    for org, users in sorted(measures.items()):
        values = {
            user: {
                "questions": m["questions"],
                "denied": m["denied"],
                "out_of_hours": m["out_of_hours"],
                "persons": len(m["persons"]),
            }
            for user, m in users.items()
        }
        for user, mine in sorted(values.items()):
            for measure, value in mine.items():
                others = [v[measure] for u, v in values.items() if u != user]
                baseline = float(statistics.median(others)) if others else 0.0
                threshold = max(float(MINIMUMS[measure]), FACTOR * baseline)
                if value >= threshold:
                    findings.append(
                        Finding(
                            organisation_id=org,
                            user_id=user,
                            measure=measure,
                            value=value,
                            baseline=baseline,
                            threshold=threshold,
                            events="/v1/audit/events?"
                            + urlencode(
                                {
                                    "organisation": org,
                                    "user": user,
                                    "since": since.isoformat(),
                                    "until": until.isoformat(),
                                    **({"decision": "deny"} if measure == "denied" else {}),
                                }
                            ),
                        )
                    )
    return findings


def organisations_seen_by(session: Session, organisation_id: str) -> set[str]:
    """An organisation and, for a district office, its municipalities."""
    seen = {organisation_id}
    for organisation in organisations.list_organisations(session):
        if organisation.parent_id == organisation_id:
            seen.add(organisation.id)
    return seen
