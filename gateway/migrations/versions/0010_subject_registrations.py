"""Which organisations registered or found each person: ``subject_registrations``.

Until now the web pages kept the persons an organisation found in
``web_known_subjects``, and the API kept only the first registrar
(``subjects.registered_by``). Both now read one table of the subjects domain,
which also holds each organisation's own jobcenter customer number (sealed,
shown to that organisation only). Filled here from each subject's first
registrar, with the subject's sealed number (same sealing context, so no key
is needed), and from ``web_known_subjects`` (without a number: the pages did
not keep one). ``web_known_subjects`` stays until the web's model of it goes.

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_registrations",
        sa.Column(
            "organisation_id", sa.String(40), sa.ForeignKey("organisations.id"), primary_key=True
        ),
        sa.Column("subject_id", sa.String(40), sa.ForeignKey("subjects.id"), primary_key=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_number_sealed", sa.Text(), nullable=True),
    )
    op.create_index("ix_subject_registrations_subject_id", "subject_registrations", ["subject_id"])
    op.create_index(
        "ix_subject_registrations_organisation_time",
        "subject_registrations",
        ["organisation_id", "registered_at"],
    )
    op.execute(
        "INSERT INTO subject_registrations"
        " (organisation_id, subject_id, registered_at, customer_number_sealed)"
        " SELECT registered_by, id, created_at, customer_number_sealed FROM subjects"
    )
    op.execute(
        "INSERT INTO subject_registrations"
        " (organisation_id, subject_id, registered_at, customer_number_sealed)"
        " SELECT k.organisation_id, k.subject_id, k.known_since, NULL"
        " FROM web_known_subjects k"
        " WHERE NOT EXISTS (SELECT 1 FROM subject_registrations r"
        " WHERE r.organisation_id = k.organisation_id AND r.subject_id = k.subject_id)"
    )


def downgrade() -> None:
    # What the pages knew goes back to their table; the API's registrations beyond the
    # first registrar have no place in the older schema.
    op.execute(
        "INSERT INTO web_known_subjects (organisation_id, subject_id, known_since)"
        " SELECT r.organisation_id, r.subject_id, r.registered_at"
        " FROM subject_registrations r"
        " JOIN subjects s ON s.id = r.subject_id"
        " WHERE r.organisation_id <> s.registered_by"
        " AND NOT EXISTS (SELECT 1 FROM web_known_subjects k"
        " WHERE k.organisation_id = r.organisation_id AND k.subject_id = r.subject_id)"
    )
    op.drop_index("ix_subject_registrations_organisation_time", "subject_registrations")
    op.drop_index("ix_subject_registrations_subject_id", "subject_registrations")
    op.drop_table("subject_registrations")
