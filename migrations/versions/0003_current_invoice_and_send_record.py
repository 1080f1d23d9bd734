"""current invoice per job, and when we sent each invoice

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rule in core.billing.invoice_copies.pick_current, as SQL, for the rows already there.
_BACKFILL_CURRENT = """
UPDATE stripe_invoices SET is_current = :yes WHERE invoice_id IN (
  SELECT invoice_id FROM (
    SELECT invoice_id, row_number() OVER (
      PARTITION BY job_id
      ORDER BY CASE status WHEN 'paid' THEN 0 WHEN 'open' THEN 1 WHEN 'draft' THEN 2
                           WHEN 'uncollectible' THEN 3 ELSE 4 END,
               CASE WHEN sent_at IS NULL THEN 1 ELSE 0 END, sent_at, created, invoice_id
    ) AS position
    FROM stripe_invoices WHERE job_id IS NOT NULL
  ) AS ranked WHERE position = 1
)
"""
_BACKFILL_SENT = """
UPDATE stripe_invoices SET sent_at = (
  SELECT min(e.created) FROM stripe_events e
  WHERE e.object_id = stripe_invoices.invoice_id AND e.type = 'invoice.sent'
)
"""


def upgrade() -> None:
    with op.batch_alter_table("stripe_invoices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_current", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text(_BACKFILL_SENT))
    op.execute(sa.text(_BACKFILL_CURRENT).bindparams(yes=True))
    with op.batch_alter_table("stripe_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "uq_stripe_invoices_current_job",
            ["job_id"],
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )


def downgrade() -> None:
    with op.batch_alter_table("stripe_invoices", schema=None) as batch_op:
        batch_op.drop_index("uq_stripe_invoices_current_job")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("is_current")
