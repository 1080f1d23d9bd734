"""Payment reminders: chasing a customer whose invoice is coming due or late.

The schedule (`REMINDER_SCHEDULE`, days from the invoice's due date, e.g. -3,0,3,7,14) is
counted in UTC calendar days: step 3 of an invoice due on the 9th falls on the 12th. Only
the job's current invoice is chased, while it is open, the job is completed (not
cancelled or paid) and the customer is not paused; the moment any of that changes, no
further step is due.

Each step happens at most once per invoice: its row in `reminders_sent` (unique on
invoice and step) is written in the transaction that writes the customer's notification
and, when we are the ones e-mailing, the outbox row. When a run finds several steps due
(the job was invoiced late, or no run happened for a while), only the latest is sent and
the earlier ones are passed over for good, never recorded: a customer gets one reminder
that says where things stand (how early or late on the day it goes out), not a burst of
stale ones.

Who e-mails: every reminder sends the invoice again through Stripe, with an idempotency
key of the invoice and step, so that where Stripe e-mails, its message carries the
invoice's current pay page. In live mode Stripe e-mails the customer on that send, so our own e-mail
would double it: the reminder is Stripe's e-mail plus the notification in our app. In
test mode and in the sandbox Stripe e-mails no one, so our e-mail (outbox kind
"reminder", rendered from the notification with the current pay link) is the one the
customer gets.

Order of a step: a short read confirms it is still due, then Stripe is called with no
transaction open, then one transaction locks the job, checks again and records the step.
A crash after the Stripe call leaves the step unrecorded; the next run repeats the call
with the same key, which Stripe answers from its idempotency store without e-mailing
again. A failed Stripe call records nothing but an audit row, and the step is tried again
by the first run RETRY_AFTER later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from core.audit import record, record_now
from core.billing.invoice_copies import current_copy, lock_job, remember_invoice
from core.config import get_settings
from core.context import AppContext
from core.db.models import (
    AuditLog,
    Customer,
    EmailMessage,
    Job,
    ReminderPause,
    ReminderSent,
    Service,
    StripeInvoice,
    utcnow,
)
from core.db.session import insert_ignoring_conflict, session_scope
from core.errors import Conflict, InvalidInput, NotFound, PaymentProviderError
from core.identity.actor import SYSTEM, Actor
from core.identity.permissions import require
from core.money import format_cents
from core.notify.notifications import notify
from core.observability.metrics import REMINDERS

KIND = "reminder"
_LIVE_KEYS = ("sk_live_", "rk_live_")
Result = Literal["sent", "stopped", "already_sent", "failed", "waiting"]
ACTION = "reminder.sent"
# After a failed Stripe send a job's reminder waits this long: `deliver` runs reminders
# every few seconds, and Stripe (or its refusal of this invoice) would answer the same.
RETRY_AFTER = timedelta(minutes=15)


def stripe_emails_customers(secret_key: str) -> bool:
    """Whether Stripe e-mails the customer when an invoice is sent: in live mode only."""
    return secret_key.startswith(_LIVE_KEYS)


def step_day(due_date: datetime, step: int) -> date:
    """The UTC calendar day on which a step of an invoice due at `due_date` falls."""
    return due_date.astimezone(UTC).date() + timedelta(days=step)


def timing(days: int) -> str:
    """Days from the due date in words: "due in 3 days", "due today", "3 days late"."""
    if days < 0:
        return f"due in {-days} day{'' if days == -1 else 's'}"
    if days == 0:
        return "due today"
    return f"{days} day{'' if days == 1 else 's'} late"


def reminder_key(invoice_id: str, step: int) -> str:
    """The outbox row's and the Stripe send's key: one per invoice and step."""
    return f"reminder:{invoice_id}:{step}"


@dataclass(frozen=True)
class DueReminder:
    """A step whose day has come for an invoice that is still owed."""

    invoice_id: str
    job_id: int
    customer_id: int
    step: int
    day: date  # the step's day
    due_date: date
    amount: int  # cents still owed
    currency: str
    passed_over: tuple[int, ...] = ()  # earlier steps also due, never to be sent
    # From the due date to the run's day: the step itself when the run is on time, more
    # when it is late (a resumed customer, an invoice sent late), and the words say so.
    days: int = 0

    @property
    def timing(self) -> str:
        return timing(self.days)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            day=self.day.isoformat(),
            due_date=self.due_date.isoformat(),
            passed_over=list(self.passed_over),
            timing=self.timing,
        )
        return data


@dataclass(frozen=True)
class ReminderOutcome:
    reminder: DueReminder
    result: Result
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.reminder.to_dict(), "result": self.result, "message": self.message}


@dataclass
class ReminderRun:
    """What a run found due at `now` and, when applied, what became of each."""

    now: datetime
    applied: bool
    due: list[DueReminder]
    outcomes: list[ReminderOutcome] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(outcome.result for outcome in self.outcomes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "applied": self.applied,
            "due": [reminder.to_dict() for reminder in self.due],
            "outcomes": [outcome.to_dict() for outcome in self.outcomes],
            "counts": self.counts,
        }


def _latest_due(
    schedule: Sequence[int], due_date: datetime, last_step: int | None, today: date
) -> tuple[int | None, tuple[int, ...]]:
    """The step to send today (the latest whose day has come, if none as late was recorded)
    and the earlier unsent ones it passes over."""
    come = [s for s in sorted(schedule) if step_day(due_date, s) <= today]
    unsent = [s for s in come if last_step is None or s > last_step]
    if not unsent:
        return None, ()
    return unsent[-1], tuple(unsent[:-1])


def _paused(customer_id: Any) -> Any:
    return exists().where(ReminderPause.customer_id == customer_id)


def _last_step() -> Any:
    return (
        select(func.max(ReminderSent.step))
        .where(ReminderSent.invoice_id == StripeInvoice.invoice_id)
        .scalar_subquery()
    )


def _chased_invoices(job_id: int | None = None) -> Any:
    """The current invoices that may be chased, with the last step sent for each."""
    query = (
        select(
            StripeInvoice.invoice_id,
            StripeInvoice.job_id,
            Job.customer_id,
            StripeInvoice.due_date,
            StripeInvoice.amount_remaining,
            StripeInvoice.currency,
            _last_step(),
        )
        .join(Job, Job.id == StripeInvoice.job_id)
        .where(
            StripeInvoice.is_current,
            StripeInvoice.status == "open",
            StripeInvoice.due_date.is_not(None),
            Job.status == "completed",
            ~_paused(Job.customer_id),
        )
        .order_by(StripeInvoice.due_date, StripeInvoice.invoice_id)
    )
    return query if job_id is None else query.where(StripeInvoice.job_id == job_id)


def due_reminders(
    session: Session, now: datetime, schedule: Sequence[int] | None = None
) -> list[DueReminder]:
    """For every job's current open invoice, the step due at `now` that was not sent.
    `schedule` defaults to the configured one (REMINDER_SCHEDULE)."""
    steps = tuple(schedule) if schedule is not None else get_settings().reminder_steps
    if not steps:
        return []
    today = now.astimezone(UTC).date()
    # No step can have come for an invoice due later than this: spares reading the rest.
    horizon = datetime.combine(today + timedelta(days=1 - min(steps)), time(), UTC)
    found = []
    query = _chased_invoices().where(StripeInvoice.due_date < horizon)
    for invoice_id, job_id, customer_id, due, owed, currency, last in session.execute(query):
        step, passed_over = _latest_due(steps, due, last, today)
        if step is not None:
            found.append(
                DueReminder(
                    invoice_id=invoice_id,
                    job_id=job_id,
                    customer_id=customer_id,
                    step=step,
                    day=step_day(due, step),
                    due_date=due.date(),
                    amount=owed,
                    currency=currency,
                    passed_over=passed_over,
                    days=(today - due.date()).days,
                )
            )
    return found


ALREADY_SENT = "already sent"


def _why_not_due(session: Session, reminder: DueReminder) -> str | None:
    """Why this step is no longer to be sent, or None while it is."""
    copy = current_copy(session, reminder.job_id)
    if copy is None or copy.invoice_id != reminder.invoice_id:
        return "the job has another invoice now"
    if copy.status != "open":
        return f"the invoice is {copy.status}"
    job_status = session.scalar(select(Job.status).where(Job.id == reminder.job_id))
    if job_status != "completed":
        return f"the job is {job_status}"
    if session.scalar(select(_paused(reminder.customer_id))):
        return "the customer's reminders are paused"
    last = session.scalar(
        select(func.max(ReminderSent.step)).where(ReminderSent.invoice_id == reminder.invoice_id)
    )
    if last is not None and last >= reminder.step:
        return ALREADY_SENT
    return None


def _not_sent(reminder: DueReminder, why: str) -> ReminderOutcome:
    result: Result = "already_sent" if why == ALREADY_SENT else "stopped"
    return ReminderOutcome(reminder, result, f"Not sent: {why}.")


def _long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def reminder_text(
    *, amount: int, currency: str, job_id: int, service: str, days: int, due: date, url: str | None
) -> tuple[str, str]:
    """The customer's notification: how much, for what, and how early or late."""
    money = format_cents(amount, currency)
    when = f"is due on {_long_date(due)}" if days <= 0 else f"was due on {_long_date(due)}"
    link = f" Pay it here: {url}" if url else ""
    return (
        f"Payment reminder: {money} {timing(days)}",
        f"Your invoice of {money} for job #{job_id} ({service}) is {timing(days)}: it {when}."
        + link,
    )


def _record_step(
    session: Session, reminder: DueReminder, now: datetime, *, our_email: bool
) -> ReminderOutcome:
    """In the caller's transaction, with the job locked: the step's row, the customer's
    notification and, when we e-mail, its outbox row; or why not."""
    why_not = _why_not_due(session, reminder)
    if why_not is not None:
        return _not_sent(reminder, why_not)
    if not insert_ignoring_conflict(
        session,
        ReminderSent,
        {
            "invoice_id": reminder.invoice_id,
            "step": reminder.step,
            "job_id": reminder.job_id,
            "sent_at": now,
        },
    ):
        return _not_sent(reminder, ALREADY_SENT)
    copy = current_copy(session, reminder.job_id)
    assert copy is not None  # _why_not_due found it
    service, email = session.execute(
        select(Service.name, Customer.email)
        .select_from(Job)
        .join(Service, Service.id == Job.service_id)
        .join(Customer, Customer.id == Job.customer_id)
        .where(Job.id == reminder.job_id)
    ).one()
    title, body = reminder_text(
        amount=copy.amount_remaining,
        currency=copy.currency,
        job_id=reminder.job_id,
        service=service,
        days=reminder.days,
        due=reminder.due_date,
        url=copy.hosted_invoice_url,
    )
    # email=False: the outbox row below is this reminder's one e-mail, under its own key.
    note = notify(
        session,
        recipient_kind="customer",
        recipient_id=reminder.customer_id,
        kind=KIND,
        title=title,
        body=body,
        job_id=reminder.job_id,
        email=False,
    )
    if our_email:
        session.flush()  # the outbox row names the notification
        session.add(
            EmailMessage(
                message_key=reminder_key(reminder.invoice_id, reminder.step),
                kind=KIND,
                notification_id=note.id,
                job_id=reminder.job_id,
                to_address=email or "",
                # queued at the run's moment: the e-mail counts how late it is from it
                created_at=now,
            )
        )
    emailed_by = "us" if our_email else "Stripe"
    record(
        session,
        actor=SYSTEM,
        action=ACTION,
        job_id=reminder.job_id,
        after={
            "invoice_id": reminder.invoice_id,
            "reminder": reminder.timing,
            "amount": copy.amount_remaining,
            "emailed_by": emailed_by,
        },
    )
    return ReminderOutcome(reminder, "sent", f"Sent ({reminder.timing}), e-mailed by {emailed_by}.")


def _failed_lately(session: Session, job_id: int, now: datetime) -> datetime | None:
    """When a Stripe send of this job's reminder last failed, if within RETRY_AFTER."""
    failed = session.scalar(
        select(func.max(AuditLog.created_at)).where(
            AuditLog.job_id == job_id, AuditLog.action == ACTION, AuditLog.result == "failed"
        )
    )
    return failed if failed is not None and now - failed < RETRY_AFTER else None


def send_reminder(ctx: AppContext, reminder: DueReminder, now: datetime) -> ReminderOutcome:
    """Send one listed step (see the module's "Order of a step"), unless it is no longer
    due by the time it comes up."""
    with session_scope(ctx.readers) as session:
        why_not = _why_not_due(session, reminder)
        failed = _failed_lately(session, reminder.job_id, now)
    if why_not is not None:
        return _not_sent(reminder, why_not)
    if failed is not None:
        return ReminderOutcome(
            reminder,
            "waiting",
            f"Stripe failed to send it at {failed:%H:%M} UTC; tried again from "
            f"{failed + RETRY_AFTER:%H:%M} UTC.",
        )
    try:
        info = ctx.gateway.send_invoice(
            reminder.invoice_id, idempotency_key=reminder_key(reminder.invoice_id, reminder.step)
        )
    except PaymentProviderError as error:
        record_now(
            ctx.sessions,
            actor=SYSTEM,
            action=ACTION,
            job_id=reminder.job_id,
            result="failed",
            after={"invoice_id": reminder.invoice_id, "reminder": reminder.timing},
            error=error.message,
        )
        return ReminderOutcome(reminder, "failed", f"Stripe did not send it: {error.message}")
    with session_scope(ctx.sessions) as session:
        lock_job(session, reminder.job_id)
        # Stripe's answer may be newer than our copy (a payment whose webhook is on its way).
        remember_invoice(session, info, job_locked=True)
        return _record_step(
            session,
            reminder,
            now,
            our_email=not stripe_emails_customers(ctx.settings.stripe_key),
        )


def run_due_reminders(
    ctx: AppContext, *, now: datetime | None = None, apply: bool = True
) -> ReminderRun:
    """The reminders due at `now` (default: the app's clock); sent when `apply`, else only
    listed (a dry run changes nothing and calls no one)."""
    now = now or utcnow()
    with session_scope(ctx.readers) as session:
        due = due_reminders(session, now, ctx.settings.reminder_steps)
    run = ReminderRun(now, apply, due)
    if apply:
        run.outcomes = [send_reminder(ctx, reminder, now) for reminder in due]
        for result, count in run.counts.items():
            REMINDERS.labels(result=result).inc(count)
    return run


# Pausing


@dataclass(frozen=True)
class PauseState:
    customer_id: int
    paused: bool
    reason: str | None = None
    paused_by: str | None = None
    paused_at: datetime | None = None


def _customer_pause(session: Session, customer_id: int) -> ReminderPause | None:
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"No customer #{customer_id}")
    return session.get(ReminderPause, customer_id)


def pause_reminders(ctx: AppContext, *, customer_id: int, actor: Actor, reason: str) -> PauseState:
    """Stop chasing this customer until resumed; the reason is kept and audited."""
    require(actor, "reminders.manage")
    reason = reason.strip()
    if not reason:
        raise InvalidInput("A reason is required; it is kept in the audit log.")
    with session_scope(ctx.sessions) as session:
        if _customer_pause(session, customer_id) is not None:
            raise Conflict(f"Reminders to customer #{customer_id} are paused already")
        pause = ReminderPause(customer_id=customer_id, reason=reason, paused_by=actor.label)
        session.add(pause)
        record(
            session,
            actor=actor,
            action="reminders.paused",
            job_id=None,
            reason=reason,
            before={"customer": customer_id, "reminders": "on"},
            after={"customer": customer_id, "reminders": "paused"},
        )
        session.flush()
        return PauseState(customer_id, True, pause.reason, pause.paused_by, pause.paused_at)


def resume_reminders(
    ctx: AppContext, *, customer_id: int, actor: Actor, reason: str | None = None
) -> PauseState:
    """Chase this customer again: the next run sends the latest step that has come."""
    require(actor, "reminders.manage")
    with session_scope(ctx.sessions) as session:
        pause = _customer_pause(session, customer_id)
        if pause is None:
            raise Conflict(f"Reminders to customer #{customer_id} are not paused")
        session.delete(pause)
        record(
            session,
            actor=actor,
            action="reminders.resumed",
            job_id=None,
            reason=(reason or "").strip() or None,
            before={"customer": customer_id, "reminders": "paused", "paused_for": pause.reason},
            after={"customer": customer_id, "reminders": "on"},
        )
        return PauseState(customer_id, False)


# What pages show


@dataclass(frozen=True)
class ReminderStatus:
    """A job's reminders: the last one sent and the next one due. `next_step` is None when
    nothing more will be sent (paid, voided, cancelled, paused, or the schedule is done)."""

    job_id: int
    last_step: int | None = None
    last_sent_at: datetime | None = None
    next_step: int | None = None
    next_on: date | None = None
    paused: bool = False


def reminder_status(
    session: Session,
    job_id: int,
    *,
    now: datetime | None = None,
    schedule: Sequence[int] | None = None,
) -> ReminderStatus:
    """The last reminder sent for the job (any of its invoices) and the step the next run
    on or after `now` sends for its current invoice, with that step's day (today when it
    is due already)."""
    steps = tuple(schedule) if schedule is not None else get_settings().reminder_steps
    today = (now or utcnow()).astimezone(UTC).date()
    last = session.execute(
        select(ReminderSent.step, ReminderSent.sent_at)
        .where(ReminderSent.job_id == job_id)
        .order_by(ReminderSent.sent_at.desc(), ReminderSent.id.desc())
        .limit(1)
    ).first()
    customer_id = session.scalar(select(Job.customer_id).where(Job.id == job_id))
    paused = customer_id is not None and bool(session.scalar(select(_paused(customer_id))))
    status = ReminderStatus(
        job_id, last.step if last else None, last.sent_at if last else None, paused=paused
    )
    chased = session.execute(_chased_invoices(job_id)).first()
    if chased is None:
        return status
    due, last_step = chased[3], chased[6]
    step, _ = _latest_due(steps, due, last_step, today)
    if step is not None:
        return replace(status, next_step=step, next_on=today)
    later = [s for s in sorted(steps) if step_day(due, s) > today]
    later = [s for s in later if last_step is None or s > last_step]
    if not later:
        return status
    return replace(status, next_step=later[0], next_on=step_day(due, later[0]))
