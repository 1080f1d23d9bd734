"""audit log by action

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

An index on audit_log (action, id, job_id). The health reading (/readyz, the gauges)
asks for the last drift check and the overview for each job's latest invoice send; with
no index on the action both read the log back to front, the whole of it when no check
ran yet (52 ms at 1M entries on SQLite, 43 ms on PostgreSQL, on every probe and scrape).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action_id", ["action", "id", "job_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_action_id")
