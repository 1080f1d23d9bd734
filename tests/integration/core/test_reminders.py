"""Payment reminders against the sandbox, on SQLite and PostgreSQL, with the run's clock
injected and moved forward day by day past the invoice's due date."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import cli
from core.billing import reminders
from core.billing.admin_actions import cancel_unpaid_job, record_manual_payment
from core.billing.invoice_copies import remember_invoice_now
from core.context import AppContext
from core.db import clock
from core.db.models import (
    AuditLog,
    EmailMessage,
    Notification,
    ReminderPause,
    ReminderSent,
    StripeInvoice,
)
from core.db.session import session_scope
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.identity.actor import Actor
from core.notify.emails import render_message
from tests.integration.core.conftest import CliRun
from tests.support.factories import Market, invoiced_job
from tests.support.sandbox import SandboxControl

ADMIN = Actor("admin", 1)
SEND = "POST /v1/invoices/{id}/send"
SCHEDULE = (-3, 0, 3, 7, 14)


def due_date_of(ctx: AppContext, invoice_id: str) -> datetime:
    with session_scope(ctx.readers) as session:
        due = session.scalar(
            select(StripeInvoice.due_date).where(StripeInvoice.invoice_id == invoice_id)
        )
    assert due is not None
    return due


def on_day(due: datetime, step: int, hour: int = 12) -> datetime:
    """Noon (UTC) of the step's day: a run's clock."""
    return datetime.combine(reminders.step_day(due, step), time(hour), UTC)


def sent_steps(ctx: AppContext, invoice_id: str) -> list[int]:
    with session_scope(ctx.readers) as session:
        return sorted(
            session.scalars(select(ReminderSent.step).where(ReminderSent.invoice_id == invoice_id))
        )


def sends(sandbox: SandboxControl) -> int:
    return sandbox.request_counts().get(SEND, 0)


def counts(ctx: AppContext) -> dict[str, int]:
    with session_scope(ctx.readers) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (ReminderSent, Notification, EmailMessage, AuditLog, ReminderPause)
        }


def sent_in(run: reminders.ReminderRun) -> list[tuple[int, int]]:
    return [(o.reminder.job_id, o.reminder.step) for o in run.outcomes if o.result == "sent"]


def test_the_schedule_sends_each_step_once_as_its_day_comes(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    before = sends(sandbox)

    assert reminders.run_due_reminders(ctx, now=on_day(due, -4)).due == []
    for step in SCHEDULE:
        run = reminders.run_due_reminders(ctx, now=on_day(due, step, hour=0))
        assert sent_in(run) == [(job_id, step)]
        # Again the same day, and the next day: nothing more.
        assert reminders.run_due_reminders(ctx, now=on_day(due, step, hour=23)).due == []
        assert reminders.run_due_reminders(ctx, now=on_day(due, step + 1)).due == []
    assert reminders.run_due_reminders(ctx, now=on_day(due, 60)).due == []

    assert sent_steps(ctx, invoice_id) == list(SCHEDULE)
    assert sends(sandbox) - before == len(SCHEDULE)  # Stripe's resend, once per step
    with session_scope(ctx.readers) as session:
        notes = list(
            session.scalars(
                select(Notification)
                .where(Notification.kind == "reminder")
                .order_by(Notification.id)
            )
        )
        outbox = list(session.scalars(select(EmailMessage).where(EmailMessage.kind == "reminder")))
    assert [(n.recipient_kind, n.recipient_id, n.job_id) for n in notes] == [
        ("customer", market.customer_id, job_id)
    ] * len(SCHEDULE)
    assert notes[0].title == "Payment reminder: $150.00 due in 3 days"
    assert notes[2].title == "Payment reminder: $150.00 3 days late"
    assert "job #" in notes[2].body and "was due on" in notes[2].body
    # Test mode: Stripe e-mails no one on a send, so ours is the customer's e-mail.
    assert sorted(m.message_key for m in outbox) == sorted(
        f"reminder:{invoice_id}:{step}" for step in SCHEDULE
    )
    assert {m.to_address for m in outbox} == {"ann@example.com"}
    assert {m.notification_id for m in outbox} == {n.id for n in notes}


def test_a_late_run_sends_only_the_latest_step_that_has_come(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)

    dry = reminders.run_due_reminders(ctx, now=on_day(due, 8), apply=False)
    assert [(r.step, r.passed_over) for r in dry.due] == [(7, (-3, 0, 3))]
    assert dry.outcomes == [] and sent_steps(ctx, invoice_id) == []

    assert sent_in(reminders.run_due_reminders(ctx, now=on_day(due, 8))) == [(job_id, 7)]
    with session_scope(ctx.readers) as session:
        title = session.scalar(select(Notification.title).where(Notification.kind == "reminder"))
    assert title == "Payment reminder: $150.00 8 days late"  # as late as it is, not step 7
    assert reminders.run_due_reminders(ctx, now=on_day(due, 13)).due == []
    assert sent_in(reminders.run_due_reminders(ctx, now=on_day(due, 14))) == [(job_id, 14)]
    assert sent_steps(ctx, invoice_id) == [7, 14]


def test_a_paid_invoice_gets_no_further_reminder(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    assert sent_in(reminders.run_due_reminders(ctx, now=on_day(due, -3))) == [(job_id, -3)]

    record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="paid in cash")
    before = sends(sandbox)
    for step in SCHEDULE[1:]:
        assert reminders.run_due_reminders(ctx, now=on_day(due, step)).due == []
    assert sends(sandbox) == before
    assert sent_steps(ctx, invoice_id) == [-3]
    with session_scope(ctx.readers) as session:
        status = reminders.reminder_status(session, job_id, now=on_day(due, 1))
    assert (status.last_step, status.next_step) == (-3, None)


def test_a_cancelled_job_and_its_voided_invoice_get_none(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    result = cancel_unpaid_job(ctx, job_id=job_id, actor=ADMIN, reason="customer moved away")
    assert result.finished
    before = sends(sandbox)
    for step in SCHEDULE:
        assert reminders.run_due_reminders(ctx, now=on_day(due, step)).due == []
    assert sends(sandbox) == before and sent_steps(ctx, invoice_id) == []


def test_a_step_listed_before_the_invoice_was_paid_is_not_sent(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    [listed] = reminders.run_due_reminders(ctx, now=on_day(due, 0), apply=False).due
    record_manual_payment(ctx, job_id=job_id, actor=ADMIN, reason="paid by cheque")
    before = sends(sandbox)

    outcome = reminders.send_reminder(ctx, listed, on_day(due, 0))
    assert (outcome.result, outcome.message) == ("stopped", "Not sent: the invoice is paid.")
    assert sends(sandbox) == before and sent_steps(ctx, invoice_id) == []


def test_a_step_done_by_another_run_is_not_done_again(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    [listed] = reminders.run_due_reminders(ctx, now=on_day(due, 3), apply=False).due
    assert reminders.send_reminder(ctx, listed, on_day(due, 3)).result == "sent"
    before = sends(sandbox)
    assert reminders.send_reminder(ctx, listed, on_day(due, 3)).result == "already_sent"
    assert sends(sandbox) == before and sent_steps(ctx, invoice_id) == [3]


def test_a_paused_customer_gets_none_and_resumed_continues(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    assert sent_in(reminders.run_due_reminders(ctx, now=on_day(due, -3))) == [(job_id, -3)]

    state = reminders.pause_reminders(
        ctx, customer_id=market.customer_id, actor=ADMIN, reason="disputes the bill"
    )
    assert state.paused and state.reason == "disputes the bill" and state.paused_by == "admin:1"
    assert reminders.run_due_reminders(ctx, now=on_day(due, 0)).due == []
    assert reminders.run_due_reminders(ctx, now=on_day(due, 4)).due == []
    with session_scope(ctx.readers) as session:
        paused = reminders.reminder_status(session, job_id, now=on_day(due, 4))
    assert paused.paused and paused.next_step is None

    reminders.resume_reminders(ctx, customer_id=market.customer_id, actor=ADMIN)
    run = reminders.run_due_reminders(ctx, now=on_day(due, 4))
    assert sent_in(run) == [(job_id, 3)] and run.due[0].passed_over == (0,)
    assert sent_in(reminders.run_due_reminders(ctx, now=on_day(due, 7))) == [(job_id, 7)]
    assert sent_steps(ctx, invoice_id) == [-3, 3, 7]

    with session_scope(ctx.readers) as session:
        trail = list(
            session.scalars(
                select(AuditLog)
                .where(AuditLog.action.startswith("reminders."))
                .order_by(AuditLog.id)
            )
        )
    assert [(e.action, e.actor, e.reason) for e in trail] == [
        ("reminders.paused", "admin:1", "disputes the bill"),
        ("reminders.resumed", "admin:1", None),
    ]
    assert trail[0].after == {"customer": market.customer_id, "reminders": "paused"}


def test_pausing_is_for_admins_with_a_reason_and_bad_requests_change_nothing(
    ctx: AppContext, market: Market
) -> None:
    before = counts(ctx)
    with pytest.raises(Forbidden):
        reminders.pause_reminders(
            ctx, customer_id=market.customer_id, actor=market.provider, reason="x"
        )
    with pytest.raises(InvalidInput):
        reminders.pause_reminders(ctx, customer_id=market.customer_id, actor=ADMIN, reason="  ")
    with pytest.raises(NotFound):
        reminders.pause_reminders(ctx, customer_id=999, actor=ADMIN, reason="gone")
    with pytest.raises(Conflict):
        reminders.resume_reminders(ctx, customer_id=market.customer_id, actor=ADMIN)
    with pytest.raises(Forbidden):
        reminders.resume_reminders(ctx, customer_id=market.customer_id, actor=Actor("finance"))
    assert counts(ctx) == before

    reminders.pause_reminders(ctx, customer_id=market.customer_id, actor=ADMIN, reason="asked")
    with pytest.raises(Conflict):
        reminders.pause_reminders(ctx, customer_id=market.customer_id, actor=ADMIN, reason="b")


def test_in_live_mode_stripe_e_mails_the_reminder_and_we_queue_none(
    ctx: AppContext, market: Market, sandbox: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reminders, "stripe_emails_customers", lambda key: True)
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    before = sends(sandbox)
    run = reminders.run_due_reminders(ctx, now=on_day(due, 0))
    assert sent_in(run) == [(job_id, 0)] and "e-mailed by Stripe" in run.outcomes[0].message
    assert sends(sandbox) == before + 1
    with session_scope(ctx.readers) as session:
        kinds = list(session.scalars(select(Notification.kind)))
        assert (
            session.scalar(
                select(func.count())
                .select_from(EmailMessage)
                .where(EmailMessage.kind == "reminder")
            )
            == 0
        )
    assert "reminder" in kinds


def test_a_failed_stripe_send_records_nothing_and_is_tried_again_a_while_later(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, count=3)
    failed_at = on_day(due, 0)
    run = reminders.run_due_reminders(ctx, now=failed_at)
    assert [o.result for o in run.outcomes] == ["failed"]
    assert sent_steps(ctx, invoice_id) == []
    with session_scope(ctx.sessions) as session:
        failed = session.scalar(
            select(AuditLog).where(AuditLog.action == "reminder.sent", AuditLog.result == "failed")
        )
        assert failed is not None and failed.job_id == job_id
        failed.created_at = failed_at  # the audit row keeps real time; the run's clock is ours

    before = sends(sandbox)
    soon = reminders.run_due_reminders(ctx, now=failed_at + timedelta(minutes=5))
    assert [o.result for o in soon.outcomes] == ["waiting"]
    assert sends(sandbox) == before and sent_steps(ctx, invoice_id) == []
    later = failed_at + reminders.RETRY_AFTER
    assert sent_in(reminders.run_due_reminders(ctx, now=later)) == [(job_id, 0)]


def test_reminder_status_names_the_last_sent_and_the_next_due(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)

    def status(now: datetime) -> reminders.ReminderStatus:
        with session_scope(ctx.readers) as session:
            return reminders.reminder_status(session, job_id, now=now, schedule=SCHEDULE)

    first = status(on_day(due, -5))
    assert (first.last_step, first.next_step, first.next_on) == (
        None,
        -3,
        reminders.step_day(due, -3),
    )
    reminders.run_due_reminders(ctx, now=on_day(due, -3))
    after = status(on_day(due, -2))
    assert (after.last_step, after.last_sent_at) == (-3, on_day(due, -3))
    assert (after.next_step, after.next_on) == (0, reminders.step_day(due, 0))
    # Steps whose day has come go out at the next run: the latest of them, today.
    late = status(on_day(due, 9))
    assert (late.next_step, late.next_on) == (7, reminders.step_day(due, 9))
    reminders.run_due_reminders(ctx, now=on_day(due, 14))
    done = status(on_day(due, 30))
    assert (done.last_step, done.next_step, done.paused) == (14, None, False)


def test_the_configured_schedule_is_the_one_run(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    ctx.settings.reminder_schedule = "1,5"
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    assert reminders.run_due_reminders(ctx, now=on_day(due, 0)).due == []
    assert sent_in(reminders.run_due_reminders(ctx, now=on_day(due, 1))) == [(job_id, 1)]
    assert sent_in(reminders.run_due_reminders(ctx, now=on_day(due, 20))) == [(job_id, 5)]


def test_the_cli_dry_run_changes_nothing_and_apply_sends(
    ctx: AppContext,
    market: Market,
    sandbox: SandboxControl,
    reconcile_cli: Callable[..., CliRun],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    # The CLI keeps the app's clock: a demo clock file puts it four days past the due date.
    lead = on_day(due, 4) - datetime.now(UTC)
    clock_file = tmp_path / "clock.json"
    clock_file.write_text(json.dumps({"offset": int(lead.total_seconds())}))
    monkeypatch.setenv(clock.CLOCK_FILE_VARIABLE, str(clock_file))
    clock.forget()
    monkeypatch.setattr(clock, "_last", None)
    before, stripe_before = counts(ctx), sends(sandbox)

    dry = reconcile_cli("remind", "--json")
    assert dry.code == 0 and not dry.data["applied"]
    assert [(r["job_id"], r["step"], r["passed_over"]) for r in dry.data["due"]] == [
        (job_id, 3, [-3, 0])
    ]
    text = reconcile_cli("remind")
    assert text.code == 0 and "1 reminder due (dry run: nothing sent)." in text.data
    assert "$150.00 4 days late (the reminder of day 3; passing over days -3, 0)" in text.data
    assert counts(ctx) == before and sends(sandbox) == stripe_before

    applied = reconcile_cli("remind", "--apply", "--json")
    assert applied.code == 0 and applied.data["counts"] == {"sent": 1}
    assert sent_steps(ctx, invoice_id) == [3] and sends(sandbox) == stripe_before + 1
    again = reconcile_cli("remind", "--apply")
    assert again.code == 0 and again.data.startswith("0 reminders sent")


def test_the_cli_pauses_and_resumes_a_customer(
    ctx: AppContext, market: Market, reconcile_cli: Callable[..., CliRun]
) -> None:
    customer = str(market.customer_id)
    paused = reconcile_cli("pause-reminders", customer, "--reason", "on holiday", "--json")
    assert paused.code == 0 and paused.data["paused"] and paused.data["reason"] == "on holiday"
    twice = reconcile_cli("pause-reminders", customer, "--reason", "again")
    assert twice.code == 1 and "paused already" in twice.err
    blank = reconcile_cli("pause-reminders", customer, "--reason", " ")
    assert blank.code == 1 and "reason is required" in blank.err
    resumed = reconcile_cli("resume-reminders", customer, "--reason", "back home")
    assert (
        resumed.code == 0 and resumed.data.strip() == f"Reminders to customer #{customer} resumed."
    )
    with pytest.raises(SystemExit) as missing:
        reconcile_cli("pause-reminders", customer)
    assert missing.value.code == 2


def test_the_queued_reminder_renders_with_its_step_amount_and_pay_link(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    reminders.run_due_reminders(ctx, now=on_day(due, 3))
    with session_scope(ctx.readers) as session:
        message = session.scalar(select(EmailMessage).where(EmailMessage.kind == "reminder"))
        assert message is not None
        email = render_message(session, message)
        url = session.scalar(
            select(StripeInvoice.hosted_invoice_url).where(StripeInvoice.invoice_id == invoice_id)
        )
    assert f"job #{job_id}" in email.subject and "3 days late" in email.subject
    assert "$150.00" in email.text and url is not None and url in email.text


def test_each_delivery_pass_queues_the_reminders_due_first(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    assert cli.run_due_reminders(ctx, on_day(due, -5)) is None
    summary = cli.run_due_reminders(ctx, on_day(due, 0))
    assert summary is not None and summary["counts"] == {"sent": 1}
    assert sent_steps(ctx, invoice_id) == [0]


def test_an_invoice_voided_in_stripe_gets_none_while_the_job_waits_for_a_new_one(
    ctx: AppContext, market: Market, sandbox: SandboxControl
) -> None:
    job_id, invoice_id = invoiced_job(ctx, market)
    due = due_date_of(ctx, invoice_id)
    remember_invoice_now(ctx.sessions, ctx.gateway.void_invoice(invoice_id))
    assert reminders.run_due_reminders(ctx, now=on_day(due, 3)).due == []
    with session_scope(ctx.readers) as session:
        assert reminders.reminder_status(session, job_id, now=on_day(due, 3)).next_step is None
        never = reminders.reminder_status(session, 999, now=on_day(due, 3))
    assert never == reminders.ReminderStatus(999)
