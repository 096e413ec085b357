"""Exporting a range of the audit trail with what an offline verifier needs.

The export is a directory:

- ``events.jsonl``: one ``{"seq", "event", "leaf_hash"}`` per line;
- ``checkpoint.json``: the signed tree head the proofs lead to;
- ``proofs.jsonl``: one RFC 9162 inclusion proof per exported event;
- ``jwks.json``: the public keys that sign checkpoints.

The README shows a verifier that needs only the standard library and
``cryptography``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from gateway.audit import repository, rfc9162
from gateway.audit.repository import EventFilter
from gateway.audit.service import Actor, AuditEvent, AuditTrail
from gateway.errors import BadRequest, NotFound
from gateway.keys import KeyPurpose, KeyStore


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    first: int
    last: int
    events: int
    tree_size: int


def export(
    session: Session,
    *,
    audit: AuditTrail,
    keys: KeyStore,
    directory: Path,
    first: int,
    last: int | None,
) -> ExportResult:
    # Sign a tree head over everything so far, so the export can reach the newest event.
    audit.checkpoint_if_due(session, force=True)
    checkpoint_row = repository.latest_checkpoint(session)
    if checkpoint_row is None:
        raise NotFound("The audit trail is empty; there is nothing to export.", slug="empty-trail")
    last = checkpoint_row.tree_size if last is None else last
    if first < 1 or last < first:
        raise BadRequest("The range must satisfy 1 <= from <= to.", slug="invalid-range")
    if last > checkpoint_row.tree_size:
        raise BadRequest(
            f"Events after {checkpoint_row.tree_size} are not yet covered by a checkpoint.",
            slug="not-yet-checkpointed",
        )
    leaves = [
        bytes.fromhex(h)
        for h in repository.leaf_hashes(session, after=0, upto=checkpoint_row.tree_size)
    ]
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    with (
        (directory / "events.jsonl").open("w", encoding="utf-8") as events,
        (directory / "proofs.jsonl").open("w", encoding="utf-8") as proofs,
    ):
        after = first - 1
        while True:
            rows = repository.find_events(
                session, EventFilter(after_seq=after, seq_to=last), limit=2000
            )
            if not rows:
                break
            for row in rows:
                item = {"seq": row.seq, "event": json.loads(row.event), "leaf_hash": row.leaf_hash}
                events.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
                path = rfc9162.inclusion_proof(row.seq - 1, leaves)
                proof = {
                    "leaf_index": row.seq - 1,
                    "tree_size": checkpoint_row.tree_size,
                    "audit_path": [node.hex() for node in path],
                }
                proofs.write(json.dumps(proof, separators=(",", ":")) + "\n")
                count += 1
            after = rows[-1].seq
            session.expunge_all()
    checkpoint = {
        "tree_size": checkpoint_row.tree_size,
        "root_hash": checkpoint_row.root_hash,
        "timestamp": checkpoint_row.timestamp,
        "jws": checkpoint_row.jws,
    }
    (directory / "checkpoint.json").write_text(json.dumps(checkpoint, indent=2), encoding="utf-8")
    (directory / "jwks.json").write_text(
        json.dumps(keys.jwks(KeyPurpose.AUDIT), indent=2), encoding="utf-8"
    )
    audit.record(
        session,
        AuditEvent(
            type="audit.exported",
            actor=Actor(kind="operator", via="cli"),
            details={
                "from": first,
                "to": last,
                "events": count,
                "tree_size": checkpoint_row.tree_size,
            },
        ),
    )
    return ExportResult(
        directory=directory,
        first=first,
        last=last,
        events=count,
        tree_size=checkpoint_row.tree_size,
    )
