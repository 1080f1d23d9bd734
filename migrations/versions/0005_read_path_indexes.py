"""read path: indexes for job lists, payment history, earnings, reports and aging

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Job lists page newest first, (created_at, id), within each filter: all jobs, by status,
by provider, by provider and status (which replaces (provider_id, status)). The provider
index carries the service too, and payments get an index with the columns reads take
from a job's payment, so a provider's earnings join jobs to payments from indexes alone;
payment history pages newest first, (created_at, id).
Current invoice copies get a partial index by status and due date (overdue, aging).

PostgreSQL only: pg_trgm and a trigram index on lower(customers.name) for the customer
search (`LIKE '%...%'`), and statistics on the calendar periods reports group by
(`date_trunc` of payments.marked_at and jobs.completed_at, in UTC: core.reporting.periods),
so the planner knows there are a few hundred of them, not one per payment, and groups in a
hash table instead of sorting every row; they are analyzed here, since autovacuum analyzes
a table only after enough of it changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (statistics name, table, column): core.reporting.periods.period_key's expressions.
_PERIOD_STATISTICS = (
    ("st_payments_marked_at_periods", "payments", "marked_at"),
    ("st_jobs_completed_at_periods", "jobs", "completed_at"),
)


def _period_expressions(column: str) -> str:
    return ", ".join(
        f"(date_trunc('{period}', timezone('UTC', {column})))"
        for period in ("day", "week", "month")
    )


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_created_at")
        batch_op.drop_index("ix_jobs_provider_status")
        batch_op.create_index("ix_jobs_created_at_id", ["created_at", "id"])
        batch_op.create_index("ix_jobs_status_created_at", ["status", "created_at", "id"])
        batch_op.create_index(
            "ix_jobs_provider_created_at", ["provider_id", "created_at", "id", "service_id"]
        )
        batch_op.create_index(
            "ix_jobs_provider_status_created_at", ["provider_id", "status", "created_at", "id"]
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_job_status_amount", ["job_id", "status", "amount", "marked_at"]
        )
        batch_op.create_index("ix_payments_created_at_id", ["created_at", "id"])
    with op.batch_alter_table("stripe_invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stripe_invoices_current_status_due",
            ["status", "due_date", "job_id", "is_current"],
            sqlite_where=sa.text("is_current = 1"),
            postgresql_where=sa.text("is_current"),
        )
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_customers_name_trgm",
        "customers",
        [sa.text("lower(name) gin_trgm_ops")],
        postgresql_using="gin",
    )
    if op.get_bind().dialect.server_version_info >= (14,):  # statistics on expressions
        for name, table, column in _PERIOD_STATISTICS:
            op.execute(f"CREATE STATISTICS {name} ON {_period_expressions(column)} FROM {table}")
        op.execute("ANALYZE payments")
        op.execute("ANALYZE jobs")


def downgrade() -> None:
    if _postgresql():
        for name, _, _ in _PERIOD_STATISTICS:
            op.execute(f"DROP STATISTICS IF EXISTS {name}")
        op.drop_index("ix_customers_name_trgm", table_name="customers")
        # pg_trgm stays: other objects may use it, and it holds no data.
    with op.batch_alter_table("stripe_invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_stripe_invoices_current_status_due")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_created_at_id")
        batch_op.drop_index("ix_payments_job_status_amount")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_provider_status_created_at")
        batch_op.drop_index("ix_jobs_provider_created_at")
        batch_op.drop_index("ix_jobs_status_created_at")
        batch_op.drop_index("ix_jobs_created_at_id")
        batch_op.create_index("ix_jobs_provider_status", ["provider_id", "status"])
        batch_op.create_index("ix_jobs_created_at", ["created_at"])
