"""The Outbox page: admins see the counts by status, the failed and the waiting messages,
and retry failed ones (chosen rows at once, all of them only after a confirmation);
providers and finance neither see nor open it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import AuditLog, EmailMessage, utcnow
from core.db.session import session_scope
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    Small,
    errors,
    metrics,
    nav_titles,
    open_page,
    page_app,
    refused_page,
    shown,
    signed_in,
    successes,
    titles,
)

PAGE = "outbox.py"
MARKUP_ERROR = "550 **no** [such](https://evil.example) <b>user</b>"


@pytest.fixture
def messages(small: Small, dashboard: AppContext) -> dict[str, int]:
    """Two failed messages (the newer about the small marketplace's job), one queued for
    later, one sent."""
    now = utcnow()
    rows = {
        "old_failure": ("failed", "ann@example.com", MARKUP_ERROR, now - timedelta(hours=2)),
        "new_failure": ("failed", "maria@example.com", "gave up after 10 attempts", now),
        "queued": ("queued", "bo@example.com", None, now - timedelta(hours=1)),
        "sent": ("sent", "dev@example.com", None, now - timedelta(hours=3)),
    }
    ids = {}
    with session_scope(dashboard.sessions) as session:
        for name, (status, to, error, created) in rows.items():
            row = EmailMessage(
                message_key=f"test:{name}",
                kind="payment_confirmed",
                job_id=small.job_id if name == "new_failure" else None,
                to_address=to,
                status=status,
                attempts=10 if status == "failed" else 0,
                last_error=error,
                next_attempt_at=created + timedelta(days=1) if status == "queued" else created,
                created_at=created,
            )
            session.add(row)
            session.flush()
            ids[name] = row.id
    return ids


def statuses(ctx: AppContext) -> dict[int, str]:
    with session_scope(ctx.readers) as session:
        return {m.id: m.status for m in session.scalars(select(EmailMessage))}


def retry_audit(ctx: AppContext) -> list[tuple[str, int | None]]:
    with session_scope(ctx.readers) as session:
        return [
            (a.actor, (a.after or {}).get("email_id"))
            for a in session.scalars(
                select(AuditLog).where(AuditLog.action == "email.retry").order_by(AuditLog.id)
            )
        ]


def admin_on_page(staff: None) -> AppTest:
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert nav_titles(at)[-2:] == ["Outbox", "E-mail previews"]
    return open_page(at, PAGE)


def test_an_admin_sees_counts_failed_and_waiting(
    staff: None, messages: dict[str, int], small: Small
) -> None:
    at = admin_on_page(staff)
    assert titles(at) == ["Outbox"]
    assert metrics(at) == {
        "Queued": "1",
        "Sending": "0",
        "Sent": "1",
        "Failed": "2",
        "Waiting for SMTP": "0",
    }
    failed, waiting = at.dataframe[0].value, at.dataframe[1].value
    assert list(failed["Message #"]) == [messages["new_failure"], messages["old_failure"]]
    assert list(failed["To"]) == ["maria@example.com", "ann@example.com"]
    assert list(failed["Job #"])[0] == small.job_id
    assert list(failed["Attempts"]) == [10, 10]
    assert list(failed["Last error"])[1] == MARKUP_ERROR  # a cell: text as written
    assert list(waiting["Message #"]) == [messages["queued"]]
    assert [shown(s.value) for s in at.subheader] == ["Failed (2)", "Waiting to be sent (1)"]
    # Nothing an address or an error holds reaches the page's markdown.
    assert all("evil.example" not in str(m.value) for m in at.markdown)


def test_retrying_the_chosen_rows(
    staff: None, messages: dict[str, int], dashboard: AppContext
) -> None:
    at = admin_on_page(staff)
    assert at.button(key="outbox_retry_chosen").disabled
    at.session_state["outbox_failed"] = {"selection": {"rows": [1]}}  # the older failure
    at.run()
    at.button(key="outbox_retry_chosen").click().run()
    assert not at.exception, [e.value for e in at.exception]

    assert successes(at) == ["1 message queued to be sent again."]
    assert statuses(dashboard)[messages["old_failure"]] == "queued"
    assert statuses(dashboard)[messages["new_failure"]] == "failed"
    assert retry_audit(dashboard)[0][1] == messages["old_failure"]
    assert metrics(at)["Failed"] == "1" and metrics(at)["Queued"] == "2"


def test_retry_all_asks_first_and_not_now_changes_nothing(
    staff: None, messages: dict[str, int], dashboard: AppContext
) -> None:
    at = admin_on_page(staff)
    before = statuses(dashboard)
    at.button(key="outbox_retry_all").click().run()
    assert [shown(w.value) for w in at.warning] == [
        "This queues 2 failed messages to be sent again, each to its recipient, on the "
        "delivery worker's next pass."
    ]
    assert statuses(dashboard) == before  # asking changes nothing
    at.button(key="outbox_retry_no").click().run()
    assert not at.warning and statuses(dashboard) == before and retry_audit(dashboard) == []

    at.button(key="outbox_retry_all").click().run()
    at.button(key="outbox_retry_yes").click().run()
    assert not at.exception and not errors(at)
    assert successes(at) == ["2 messages queued to be sent again.", "No message failed."]
    after = statuses(dashboard)
    assert after[messages["old_failure"]] == after[messages["new_failure"]] == "queued"
    assert after[messages["sent"]] == "sent"
    assert {email for _, email in retry_audit(dashboard)} == {
        messages["old_failure"],
        messages["new_failure"],
    }
    assert [shown(s.value) for s in at.subheader][0] == "Failed (0)"


def test_providers_and_finance_neither_see_nor_open_it(
    small: Small, staff: None, messages: dict[str, int]
) -> None:
    for email, password in ((small.email, small.password), (FINANCE_EMAIL, FINANCE_PASSWORD)):
        alone = refused_page(email, password, PAGE, "Outbox")
        assert not alone.exception and not alone.main.children, email


def test_signed_out_it_draws_nothing(dashboard: AppContext) -> None:
    alone = page_app(PAGE).run()
    assert not alone.exception and not alone.main.children
