"""refunds, disputes and invoice payments

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Money that moves back, in the integration's own tables (the domain's stay as they are):
`stripe_invoice_payments` links a Stripe PaymentIntent to the invoice and job it paid,
`stripe_refunds` and `stripe_disputes` hold one row per Stripe refund and dispute with
what each has taken off the provider's earnings, and `job_money_back` the per-job totals
that lists filter on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISPUTE_STATUSES = (
    "status IN ('warning_needs_response', 'warning_under_review', 'warning_closed', "
    "'needs_response', 'under_review', 'won', 'lost', 'prevented')"
)


def upgrade() -> None:
    op.create_table(
        "job_money_back",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("disputed", sa.BigInteger(), nullable=False),
        sa.Column("dispute_lost", sa.BigInteger(), nullable=False),
        sa.Column("taken_back", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "refunded >= 0 AND disputed >= 0 AND dispute_lost >= 0",
            name=op.f("ck_job_money_back_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_money_back_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_money_back")),
    )
    op.create_table(
        "stripe_disputes",
        sa.Column("dispute_id", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence_due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            DISPUTE_STATUSES,
            name=op.f("ck_stripe_disputes_status_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_stripe_disputes_amount_positive")),
        sa.CheckConstraint(
            "applied IN (0, amount)", name=op.f("ck_stripe_disputes_applied_all_or_nothing")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_stripe_disputes_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_stripe_disputes")),
    )
    with op.batch_alter_table("stripe_disputes", schema=None) as batch_op:
        batch_op.create_index("ix_stripe_disputes_created", ["created"], unique=False)
        batch_op.create_index(batch_op.f("ix_stripe_disputes_job_id"), ["job_id"], unique=False)

    op.create_table(
        "stripe_invoice_payments",
        sa.Column("payment_intent_id", sa.String(length=255), nullable=False),
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_stripe_invoice_payments_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("payment_intent_id", name=op.f("pk_stripe_invoice_payments")),
    )
    with op.batch_alter_table("stripe_invoice_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stripe_invoice_payments_invoice_id"), ["invoice_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stripe_invoice_payments_job_id"), ["job_id"], unique=False
        )

    op.create_table(
        "stripe_refunds",
        sa.Column("refund_id", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("credit_note_id", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'requires_action', 'succeeded', 'failed', 'canceled')",
            name=op.f("ck_stripe_refunds_status_known"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_stripe_refunds_amount_positive")),
        sa.CheckConstraint(
            "applied IN (0, amount)", name=op.f("ck_stripe_refunds_applied_all_or_nothing")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_stripe_refunds_job_id_jobs")
        ),
        sa.PrimaryKeyConstraint("refund_id", name=op.f("pk_stripe_refunds")),
    )
    with op.batch_alter_table("stripe_refunds", schema=None) as batch_op:
        batch_op.create_index("ix_stripe_refunds_created", ["created"], unique=False)
        batch_op.create_index(batch_op.f("ix_stripe_refunds_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stripe_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_refunds_job_id"))
        batch_op.drop_index("ix_stripe_refunds_created")

    op.drop_table("stripe_refunds")
    with op.batch_alter_table("stripe_invoice_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_invoice_payments_job_id"))
        batch_op.drop_index(batch_op.f("ix_stripe_invoice_payments_invoice_id"))

    op.drop_table("stripe_invoice_payments")
    with op.batch_alter_table("stripe_disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_disputes_job_id"))
        batch_op.drop_index("ix_stripe_disputes_created")

    op.drop_table("stripe_disputes")
    op.drop_table("job_money_back")
