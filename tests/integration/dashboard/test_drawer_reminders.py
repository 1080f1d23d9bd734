"""The job drawer's reminder line for an open invoice, and an admin pausing and resuming the
customer's reminders there with a reason; a provider sees the line, not the controls."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import AuditLog, EmailMessage, ReminderPause
from core.db.session import session_scope
from core.identity.accounts import create_account
from core.identity.actor import SYSTEM
from core.jobs.lifecycle import complete_job
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Small,
    button_keys,
    captions,
    errors,
    open_job,
    open_page,
    shown,
    signed_in,
    successes,
)


def invoiced(dashboard: AppContext, small: Small) -> None:
    assert complete_job(dashboard, job_id=small.job_id, actor=SYSTEM).invoice is not None
    with session_scope(dashboard.sessions) as session:
        create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex Admin",
            role="admin",
            password=ADMIN_PASSWORD,
        )


def drawer(small: Small, email: str, password: str, page: str) -> AppTest:
    return open_job(open_page(signed_in(email, password), page), small.job_id)


def reminder_lines(at: AppTest) -> list[str]:
    return [c for c in captions(at) if "reminder" in c.lower()]


def pauses(dashboard: AppContext) -> list[tuple[int, str]]:
    with session_scope(dashboard.readers) as session:
        return [(p.customer_id, p.reason) for p in session.scalars(select(ReminderPause))]


def audited(dashboard: AppContext) -> list[str]:
    with session_scope(dashboard.readers) as session:
        return list(
            session.scalars(
                select(AuditLog.action)
                .where(AuditLog.action.like("reminders.%"))
                .order_by(AuditLog.id)
            )
        )


def test_the_drawer_tells_the_last_and_next_reminder(small: Small, dashboard: AppContext) -> None:
    invoiced(dashboard, small)
    at = drawer(small, small.email, small.password, "my_jobs.py")
    lines = reminder_lines(at)
    assert len(lines) == 1 and lines[0].startswith("No reminder sent yet · next reminder due ")
    assert lines[0].endswith("(due in 3 days)")
    assert "reminder_toggle_" + str(small.job_id) not in button_keys(at)


def test_an_admin_pauses_with_a_reason_and_resumes(small: Small, dashboard: AppContext) -> None:
    invoiced(dashboard, small)
    at = drawer(small, ADMIN_EMAIL, ADMIN_PASSWORD, "all_jobs.py")
    toggle = f"reminder_toggle_{small.job_id}"
    reason = f"reminder_reason_{small.job_id}"

    at.button(key=toggle).click().run()  # no reason given
    assert any("A reason is required" in e for e in errors(at))
    assert pauses(dashboard) == [] and audited(dashboard) == []

    at.text_input(key=reason).input("Disputes the bill **loudly**")
    at.button(key=toggle).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert pauses(dashboard) == [(small.customer_id, "Disputes the bill **loudly**")]
    assert "Reminders to this customer are paused." in successes(at)
    lines = reminder_lines(at)
    assert lines[0].endswith("· reminders to this customer are paused")
    assert any(
        c.startswith("Paused by Alex Admin on ") and c.endswith(": Disputes the bill **loudly**")
        for c in captions(at)
    )

    at.button(key=toggle).click().run()  # a reason to resume is optional
    assert pauses(dashboard) == []
    assert audited(dashboard) == ["reminders.paused", "reminders.resumed"]
    assert "Reminders to this customer are on again." in successes(at)
    assert reminder_lines(at)[0].endswith("(due in 3 days)")


def test_the_drawers_timeline_tells_each_email_in_words(
    small: Small, dashboard: AppContext
) -> None:
    invoiced(dashboard, small)
    with session_scope(dashboard.sessions) as session:
        session.add_all(
            [
                EmailMessage(
                    message_key="t:1",
                    kind="payment_failed",
                    job_id=small.job_id,
                    to_address="ann+*x*@example.com",
                    status="failed",
                    attempts=3,
                    last_error="mailbox unavailable",
                ),
                EmailMessage(
                    message_key="t:2",
                    kind="reminder",
                    job_id=small.job_id,
                    to_address="ann@example.com",
                    status="not_configured",
                ),
            ]
        )
    at = drawer(small, ADMIN_EMAIL, ADMIN_PASSWORD, "all_jobs.py")
    lines = [line for line in (shown(m.value) for m in at.markdown) if "E-mail" in line]
    assert [line.split(" UTC · ", 1)[1] for line in lines] == [
        "**E-mail 'Payment failed' to ann+*x*@example.com** — "
        "failed after 3 attempts: mailbox unavailable",
        "**E-mail 'Payment reminder' to ann@example.com** — not sent: e-mail is not configured",
    ]
    # The address is the customer's own text: its asterisks are not emphasis.
    assert any(r"\*x\*" in str(m.value) for m in at.markdown)
