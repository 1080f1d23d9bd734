"""The outbox as admins see it (core.notify.outbox_admin), on SQLite and PostgreSQL: counts
by status, the failed and the pending messages, retrying failed ones (audited, refused to
other roles, and then claimed by the delivery worker), and a job's messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.context import AppContext
from core.db.models import AuditLog, EmailMessage
from core.db.session import session_scope
from core.errors import Forbidden, InvalidInput
from core.identity.actor import Actor
from core.notify.delivery import DeliveryWorker
from core.notify.outbox_admin import (
    failed_ids,
    list_messages,
    messages_for_job,
    outbox_summary,
    retry,
)
from tests.support.factories import marketplace, new_job

ADMIN = Actor("admin")
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def add_message(
    ctx: AppContext,
    key: str,
    status: str,
    *,
    job_id: int | None = None,
    attempts: int = 0,
    error: str | None = None,
    due: datetime = NOW,
    created: datetime = NOW,
    sent_at: datetime | None = None,
) -> int:
    with session_scope(ctx.sessions) as session:
        row = EmailMessage(
            message_key=key,
            kind="payment_confirmed",
            job_id=job_id,
            to_address=f"{key}@example.com",
            status=status,
            attempts=attempts,
            last_error=error,
            next_attempt_at=due,
            created_at=created,
            sent_at=sent_at,
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def job_id(ctx: AppContext) -> int:
    with session_scope(ctx.sessions) as session:
        return new_job(session, *marketplace(session)).id


def statuses(ctx: AppContext) -> dict[int, tuple[str, datetime, int]]:
    with session_scope(ctx.readers) as session:
        return {
            m.id: (m.status, m.next_attempt_at, m.attempts)
            for m in session.scalars(select(EmailMessage))
        }


def audit(ctx: AppContext) -> list[tuple[str, str, int | None, object, object]]:
    with session_scope(ctx.readers) as session:
        return [
            (a.actor, a.action, a.job_id, a.before, a.after)
            for a in session.scalars(select(AuditLog).order_by(AuditLog.id))
        ]


def test_counts_name_every_status_and_lists_split_failed_from_pending(
    ctx: AppContext, job_id: int
) -> None:
    old_failure = add_message(ctx, "a", "failed", error="550 no such user", created=NOW)
    new_failure = add_message(
        ctx, "b", "failed", job_id=job_id, error="gave up", created=NOW + timedelta(minutes=1)
    )
    later = add_message(ctx, "c", "queued", due=NOW + timedelta(hours=1))
    sooner = add_message(ctx, "d", "not_configured", due=NOW - timedelta(hours=1))
    add_message(ctx, "e", "sent", sent_at=NOW)

    with session_scope(ctx.readers) as session:
        assert outbox_summary(session, actor=ADMIN) == {
            "queued": 1,
            "sending": 0,
            "sent": 1,
            "failed": 2,
            "not_configured": 1,
        }
        failed = list_messages(session, actor=ADMIN, status="failed")
        pending = list_messages(session, actor=ADMIN, status="pending")
        assert [m.id for m in failed] == [new_failure, old_failure]  # newest first
        assert [m.id for m in pending] == [sooner, later]  # next due first
        assert (failed[0].job_id, failed[0].last_error, failed[0].to_address) == (
            job_id,
            "gave up",
            "b@example.com",
        )
        assert [m.id for m in list_messages(session, actor=ADMIN, status="failed", limit=1)] == [
            new_failure
        ]
        assert failed_ids(session, actor=ADMIN) == [old_failure, new_failure]
        with pytest.raises(InvalidInput):
            list_messages(session, actor=ADMIN, status="sent")  # type: ignore[arg-type]


def test_retry_queues_failed_messages_now_audited_and_the_worker_claims_them(
    ctx: AppContext, job_id: int
) -> None:
    failed = add_message(ctx, "a", "failed", job_id=job_id, attempts=10, error="gave up")
    sent = add_message(ctx, "b", "sent", attempts=1, sent_at=NOW)
    later = NOW + timedelta(hours=3)

    with session_scope(ctx.sessions) as session:
        assert retry(session, [failed, sent, failed, 999_999], actor=ADMIN, now=later) == [failed]

    rows = statuses(ctx)
    assert rows[failed] == ("queued", later, 10)  # attempts are its history
    assert rows[sent] == ("sent", NOW, 1)
    assert audit(ctx) == [
        (
            "admin",
            "email.retry",
            job_id,
            {"email_id": failed, "status": "failed", "last_error": "gave up"},
            {"email_id": failed, "status": "queued"},
        )
    ]
    # Retrying again is harmless: the message is no longer failed.
    with session_scope(ctx.sessions) as session:
        assert retry(session, [failed], actor=ADMIN, now=later) == []
    assert len(audit(ctx)) == 1

    worker = DeliveryWorker(
        ctx.sessions, ctx.readers, smtp=None, mail_from="m@example.com", clock=lambda: later
    )
    assert [c.id for c in worker.claim()] == [failed]


@pytest.mark.parametrize("role", ["provider", "finance", "customer"])
def test_other_roles_are_refused_and_nothing_changes(ctx: AppContext, role: str) -> None:
    failed = add_message(ctx, "a", "failed", error="gave up")
    before = statuses(ctx)
    actor = Actor(role, 1)  # type: ignore[arg-type]
    with session_scope(ctx.sessions) as session:
        with pytest.raises(Forbidden, match="outbox is for admins"):
            retry(session, [failed], actor=actor)
        with pytest.raises(Forbidden):
            outbox_summary(session, actor=actor)
        with pytest.raises(Forbidden):
            list_messages(session, actor=actor, status="failed")
    assert statuses(ctx) == before and audit(ctx) == []


def test_retrying_nothing_is_refused(ctx: AppContext) -> None:
    with session_scope(ctx.sessions) as session, pytest.raises(InvalidInput):
        retry(session, [], actor=ADMIN)


def test_a_jobs_messages_oldest_first(ctx: AppContext, job_id: int) -> None:
    add_message(ctx, "b", "sent", job_id=job_id, attempts=1, sent_at=NOW, created=NOW)
    add_message(
        ctx, "a", "failed", job_id=job_id, attempts=3, error="550", created=NOW - timedelta(1)
    )
    add_message(ctx, "c", "queued")  # about no job
    with session_scope(ctx.readers) as session:
        found = messages_for_job(session, job_id)
    assert [(m.to_address, m.status, m.attempts, m.last_error, m.sent_at) for m in found] == [
        ("a@example.com", "failed", 3, "550", None),
        ("b@example.com", "sent", 1, None, NOW),
    ]
    assert found[0].kind == "payment_confirmed"
