"""dashboard sessions: sign-in tickets, session records, disabled accounts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A dashboard sign-in ends in an HttpOnly session cookie that names a `dashboard_sessions`
row by its token's SHA-256; the sign-in page hands the browser a one-time ticket
(`dashboard_sign_in_tickets`) to trade for that cookie. `accounts.disabled_at` refuses
an account's sign-ins and sessions.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _issued_to_account() -> list[sa.Column[object]]:
    """The columns a ticket and a session share: whom they were issued to, as what, when."""
    return [
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "dashboard_sign_in_tickets",
        *_issued_to_account(),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_dashboard_sign_in_tickets_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sign_in_tickets")),
    )
    with op.batch_alter_table("dashboard_sign_in_tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dashboard_sign_in_tickets_account_id", ["account_id"], unique=False
        )

    op.create_table(
        "dashboard_sessions",
        *_issued_to_account(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_because", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_dashboard_sessions_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_sessions_account_id", ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_sessions_account_id")
    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("dashboard_sign_in_tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_sign_in_tickets_account_id")
    op.drop_table("dashboard_sign_in_tickets")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("disabled_at")
