"""event payloads and our record of Stripe customers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The customers already invoiced: their Stripe customer is on their invoices' copies.
_BACKFILL_CUSTOMERS = """
INSERT INTO stripe_customers (customer_id, stripe_customer_id, created_at)
SELECT jobs.customer_id, min(stripe_invoices.customer), min(stripe_invoices.updated_at)
FROM stripe_invoices JOIN jobs ON jobs.id = stripe_invoices.job_id
GROUP BY jobs.customer_id
"""


def upgrade() -> None:
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    op.create_table(
        "stripe_customers",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_stripe_customers_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_stripe_customers")),
        sa.UniqueConstraint(
            "stripe_customer_id", name=op.f("uq_stripe_customers_stripe_customer_id")
        ),
    )
    op.execute(sa.text(_BACKFILL_CUSTOMERS))


def downgrade() -> None:
    op.drop_table("stripe_customers")
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_column("payload")
