"""A job's payment reminders as its drawer tells them: the last sent, the next due, and,
for those who may pause them, who paused the customer's reminders and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from core.audit import actor_names
from core.billing.invoice_copies import current_copy
from core.billing.reminders import ReminderStatus, reminder_status, timing
from core.db.models import ReminderPause
from core.identity.actor import Actor
from core.identity.permissions import allowed, load_job


@dataclass(frozen=True)
class Pause:
    by: str  # the person's name
    reason: str
    at: datetime


@dataclass(frozen=True)
class JobReminders:
    customer_id: int
    status: ReminderStatus
    pause: Pause | None  # only for those allowed reminders.manage
    due_on: date | None = None  # the current invoice's due date (UTC day)

    def _timing(self, day: date, step: int) -> str:
        # A reminder sent late (a paused customer resumed, a run missed) says how late it
        # was that day, as its e-mail did, not its step of the schedule.
        return timing((day - self.due_on).days if self.due_on else step)

    @property
    def words(self) -> str:
        """ "Last reminder sent 2026-12-01 (3 days late) · next reminder due 2026-12-05 (7 days
        late)", or what stops them."""
        status = self.status
        last = "No reminder sent yet"
        if status.last_sent_at is not None and status.last_step is not None:
            sent = status.last_sent_at.astimezone(UTC).date()
            last = f"Last reminder sent {sent:%Y-%m-%d} ({self._timing(sent, status.last_step)})"
        if status.paused:
            return f"{last} · reminders to this customer are paused"
        if status.next_step is None or status.next_on is None:
            return f"{last} · no further reminder is scheduled"
        upcoming = self._timing(status.next_on, status.next_step)
        return f"{last} · next reminder due {status.next_on:%Y-%m-%d} ({upcoming})"


def job_reminders(
    session: Session, *, job_id: int, actor: Actor, now: datetime | None = None
) -> JobReminders:
    """The job's reminders, if the actor may see the job (else NotFound)."""
    job = load_job(session, job_id, actor)
    status = reminder_status(session, job_id, now=now)
    pause = None
    if status.paused and allowed(actor, "reminders.manage"):
        row = session.get(ReminderPause, job.customer_id)
        if row is not None:
            name = actor_names(session, [row.paused_by])[row.paused_by]
            pause = Pause(name, row.reason, row.paused_at)
    copy = current_copy(session, job_id)
    due = copy.due_date.astimezone(UTC).date() if copy and copy.due_date else None
    return JobReminders(job.customer_id, status, pause, due)
