"""The data protection officer's view of the audit trail: which events, proofs, checks, export.

The same visibility as ``GET /v1/audit/events``: an officer (or admin) of the
operator sees the whole trail, everyone else with ``audit:read`` sees the
events their own organisation caused; any other event does not exist for
them (404). Inclusion proofs are checked here with RFC 9162's algorithm
against the latest checkpoint, whose JWS is verified with the published keys.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from sqlmodel import Session

from gateway.access.guard import AccessGuard
from gateway.audit import repository as audit_repository
from gateway.audit import rfc9162
from gateway.audit.models import AuditEventRow
from gateway.audit.repository import EventFilter
from gateway.audit.service import AuditTrail, Checkpoint
from gateway.auth.principal import Principal
from gateway.database import parse_bigint
from gateway.errors import NotFound
from gateway.keys import KeyPurpose, KeyStore
from gateway.organisations import repository as organisations
from gateway.policy.models import Action
from gateway.web.forms import N_, Form, start_of_day

CHECKPOINT_ALGORITHMS = ["Ed25519", "EdDSA"]
FILTERS = ("subject", "organisation", "user", "consent", "purpose", "type", "decision")
PAGE_SIZE = 50
MAX_EXPORT = 5000


def visible_organisations(
    session: Session, guard: AccessGuard, principal: Principal
) -> frozenset[str] | None:
    """Whose events the viewer reads (the rules ``audit.*``): None for the whole
    trail, else the own organisation and, for a district office, its municipalities."""
    return guard.records_scope(session, principal, Action.READ_AUDIT)


def scope(session: Session, guard: AccessGuard, principal: Principal) -> str | None:
    """None: the whole trail; otherwise the one organisation whose events are listed."""
    visible = visible_organisations(session, guard, principal)
    return None if visible is None else principal.organisation_id


def parse_filter(form: Form, *, scoped_to: str | None) -> EventFilter:
    """The explorer's filter, within what ``scoped_to`` may see (None: everything)."""
    values = {name: form.optional(name, max_length=80) for name in FILTERS}
    if values["decision"] and values["decision"] not in {"permit", "deny"}:
        form.fail("decision", N_("Please choose one of the offered options."))
    since = form.date("since", required=False)
    until = form.date("until", required=False)
    if since and until and until < since:
        form.fail("until", N_("The end lies before the start."))
    cursor = form.text("cursor")
    # A seq, within BIGINT: a larger one would fail in the database.
    after_seq = parse_bigint(cursor) if cursor else 0
    if after_seq is None:
        form.fail("cursor", N_("The format is not valid."))
    return EventFilter(
        visible_to=scoped_to,
        organisation_id=values["organisation"],
        user_id=values["user"],
        subject_id=values["subject"],
        consent_id=values["consent"],
        purpose=values["purpose"],
        event_type=values["type"],
        decision=values["decision"],
        since=start_of_day(since) if since else None,
        until=start_of_day(until + timedelta(days=1)) if until else None,
        after_seq=after_seq or 0,
    )


@dataclass(frozen=True)
class EventView:
    seq: int
    time: datetime
    type: str
    organisation: str
    user: str | None
    subject: str | None
    consent: str | None
    purpose: str | None
    decision: str | None
    leaf_hash: str
    document: dict[str, Any]


def event_view(row: AuditEventRow, names: dict[str, str]) -> EventView:
    return EventView(
        seq=row.seq,
        time=row.occurred_at,
        type=row.event_type,
        organisation=names.get(row.organisation_id or "", row.organisation_id or ""),
        user=row.user_id,
        subject=row.subject_id,
        consent=row.consent_id,
        purpose=row.purpose,
        decision=row.decision,
        leaf_hash=row.leaf_hash,
        document=json.loads(row.event),
    )


def organisation_names(session: Session) -> dict[str, str]:
    return {o.id: o.name for o in organisations.list_organisations(session)}


def find(session: Session, flt: EventFilter | None) -> tuple[list[AuditEventRow], str | None]:
    if flt is None:
        return [], None
    rows = audit_repository.find_events(session, flt, limit=PAGE_SIZE + 1)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (str(rows[-1].seq) if more else None)


def visible_event(
    session: Session, guard: AccessGuard, principal: Principal, seq: int
) -> AuditEventRow:
    scoped_to = scope(session, guard, principal)
    rows = audit_repository.find_events(
        session, EventFilter(visible_to=scoped_to, seq_from=seq, seq_to=seq), limit=1
    )
    if not rows:
        raise NotFound("No such event.", slug="event-not-found")
    return rows[0]


@dataclass(frozen=True)
class ProofView:
    checkpoint: Checkpoint
    audit_path: list[str]
    included: bool
    signature_verified: bool


def checkpoint_verified(checkpoint: Checkpoint, keys: KeyStore) -> bool:
    try:
        verified = jws.deserialize_compact(
            checkpoint.jws,
            keys.verification_keys(KeyPurpose.AUDIT),
            algorithms=CHECKPOINT_ALGORITHMS,
        )
    except (JoseError, ValueError):
        return False
    payload = json.loads(verified.payload)
    return bool(
        payload.get("tree_size") == checkpoint.tree_size
        and payload.get("root_hash") == checkpoint.root_hash
    )


def proof(
    session: Session, *, audit: AuditTrail, keys: KeyStore, row: AuditEventRow
) -> ProofView | None:
    """The RFC 9162 inclusion proof of one event in the latest checkpoint, checked.

    None while no checkpoint covers the event.
    """
    latest = audit_repository.latest_checkpoint(session)
    if latest is None or latest.tree_size < row.seq:
        return None
    found = audit.inclusion_proof(session, seq=row.seq, tree_size=None)
    checkpoint = audit.latest_checkpoint(session)
    path = [str(node) for node in found["audit_path"]]
    included = rfc9162.verify_inclusion(
        index=row.seq - 1,
        size=checkpoint.tree_size,
        leaf=bytes.fromhex(row.leaf_hash),
        proof=[bytes.fromhex(node) for node in path],
        root=bytes.fromhex(checkpoint.root_hash),
    )
    return ProofView(
        checkpoint=checkpoint,
        audit_path=path,
        included=included,
        signature_verified=checkpoint_verified(checkpoint, keys),
    )


def export_zip(
    session: Session, *, audit: AuditTrail, keys: KeyStore, flt: EventFilter | None
) -> bytes:
    """The visible events with what an offline verifier needs (the layout of ``audit export``)."""
    audit.checkpoint_if_due(session, force=True)  # so every exported event has a proof
    rows = audit_repository.find_events(session, flt, limit=MAX_EXPORT) if flt else []
    checkpoint = (
        audit.latest_checkpoint(session) if audit_repository.latest_checkpoint(session) else None
    )
    leaves = (
        [
            bytes.fromhex(h)
            for h in audit_repository.leaf_hashes(session, after=0, upto=checkpoint.tree_size)
        ]
        if checkpoint
        else []
    )
    events, proofs = [], []
    for row in rows:
        events.append(
            json.dumps(
                {"seq": row.seq, "event": json.loads(row.event), "leaf_hash": row.leaf_hash},
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
        if checkpoint is not None and row.seq <= checkpoint.tree_size:
            proofs.append(
                json.dumps(
                    {
                        "leaf_index": row.seq - 1,
                        "tree_size": checkpoint.tree_size,
                        "root_hash": checkpoint.root_hash,
                        "audit_path": [
                            h.hex() for h in rfc9162.inclusion_proof(row.seq - 1, leaves)
                        ],
                    },
                    separators=(",", ":"),
                )
            )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("events.jsonl", "".join(line + "\n" for line in events))
        archive.writestr("proofs.jsonl", "".join(line + "\n" for line in proofs))
        archive.writestr(
            "checkpoint.json", json.dumps(checkpoint.public() if checkpoint else None, indent=2)
        )
        archive.writestr("jwks.json", json.dumps(keys.jwks(KeyPurpose.AUDIT), indent=2))
    return buffer.getvalue()
