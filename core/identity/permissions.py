"""Who may do what, in one table, and which jobs an actor may read, in one query.

Every action in core, the REST API and the dashboard asks `allowed` or `require`; every
read of jobs goes through `jobs_visible_to`, so scope is enforced in the queries, not
only hidden in the UI. Someone else's job is "not found", not "forbidden", so ids cannot
be probed.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import false, select, true
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.elements import ColumnElement

from core.db.models import Job
from core.errors import Forbidden, NotFound
from core.identity.actor import Actor, Role

Action = Literal[
    "job.read",
    "jobs.manage",
    "job.create",
    "job.create_for_customer",
    "job.complete",
    "job.update_status",
    "job.cancel",
    "job.cancel_unpaid",
    "invoice.read",
    "invoice.send",
    "invoice.resend",
    "invoice.reissue",
    "invoice.pay_test",
    "payment.manual",
    "refund",
    "payments.history",
    "earnings.read",
    "notifications.read",
    "reports.read",
    "webhooks.read",
    "reconcile",
    "events.replay",
    "audit.read",
    "reminders.manage",
    "emails.preview",
    "outbox.manage",
]

_EVERYONE: frozenset[Role] = frozenset({"customer", "provider", "admin", "finance", "system"})
_STAFF: frozenset[Role] = frozenset({"admin", "system"})

# action -> the roles that may attempt it; scope (whose job) is checked apart, per row.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    "job.read": _EVERYONE,
    # Every provider's jobs at once, with bulk actions (the dashboard's All jobs page).
    "jobs.manage": _STAFF,
    "job.create": frozenset({"customer", "system"}),
    # Booking on a customer's behalf (the dashboard's All jobs page), audited.
    "job.create_for_customer": _STAFF,
    "job.complete": frozenset({"provider", "admin", "system"}),
    # The provider app's status endpoint (`POST /provider/jobs/{id}/update-status`).
    "job.update_status": frozenset({"provider"}),
    "job.cancel": frozenset({"customer", "provider", "admin", "system"}),
    # A completed, unpaid job too, its open invoice voided in Stripe.
    "job.cancel_unpaid": _STAFF,
    "invoice.read": frozenset({"customer", "provider", "admin", "system"}),
    "invoice.send": frozenset({"provider", "admin", "system"}),
    "invoice.resend": frozenset({"provider", "admin", "system"}),
    "invoice.reissue": _STAFF,
    "invoice.pay_test": _STAFF,
    "payment.manual": _STAFF,
    # Money back to the customer's card (a credit note in Stripe), audited; not finance.
    "refund": _STAFF,
    "payments.history": _EVERYONE,
    "earnings.read": frozenset({"provider", "admin", "finance", "system"}),
    "notifications.read": frozenset({"customer", "provider"}),
    "reports.read": frozenset({"admin", "finance", "system"}),
    "webhooks.read": _STAFF,
    "reconcile": _STAFF,
    "events.replay": _STAFF,
    "audit.read": _STAFF,
    "reminders.manage": _STAFF,  # pausing and resuming a customer's payment reminders
    "emails.preview": _STAFF,
    "outbox.manage": _STAFF,  # the e-mail outbox: what is stuck, and retrying it
}

_REFUSALS: dict[Action, str] = {
    "job.complete": "Only the job's provider can mark it complete",
    "job.cancel": "Finance staff cannot cancel jobs",
    "job.cancel_unpaid": "Only admins can cancel a completed job",
    "job.create_for_customer": "Only admins can book a job for a customer",
    "invoice.send": "Only the job's provider or an admin can invoice a job",
    "invoice.resend": "Only the job's provider or an admin can resend an invoice",
    "invoice.reissue": "Only admins can do this",
    "payment.manual": "Only admins can do this",
    "refund": "Refunds are for admins; finance staff and providers cannot refund a payment",
    "reports.read": "Reports are for finance staff and admins",
    "webhooks.read": "Webhook activity is for admins",
    "reconcile": "Reconciliation is for admins",
    "events.replay": "Replaying events is for admins",
    "audit.read": "The audit log is for admins",
    "reminders.manage": "Pausing payment reminders is for admins",
    "emails.preview": "E-mail previews are for admins",
    "notifications.read": "Notifications are read by the customer or provider they are for",
    "outbox.manage": "The e-mail outbox is for admins",
}


def allowed(actor: Actor, action: Action) -> bool:
    return actor.role in PERMISSIONS[action]


def require(actor: Actor, action: Action) -> None:
    """Forbidden unless the actor's role may attempt the action."""
    if not allowed(actor, action):
        raise Forbidden(_REFUSALS.get(action, f"A {actor.role} cannot do this"))


def jobs_visible_to(actor: Actor) -> ColumnElement[bool]:
    """The jobs an actor may read, as a WHERE condition: the one scope rule."""
    if actor.role == "provider":
        return Job.provider_id == actor.id
    if actor.role == "customer":
        return Job.customer_id == actor.id
    if actor.role in ("admin", "finance", "system"):
        return true()
    return false()


def require_provider_scope(actor: Actor, provider_id: int) -> None:
    """A provider reads only their own figures; others per the permissions table."""
    if not allowed(actor, "earnings.read") or (
        actor.role == "provider" and actor.id != provider_id
    ):
        raise NotFound(f"No provider #{provider_id}")


def load_job(session: Session, job_id: int, actor: Actor) -> Job:
    """The job with its service, customer, provider and payment, if the actor may see it."""
    job = session.scalar(
        select(Job)
        .where(Job.id == job_id, jobs_visible_to(actor))
        .options(
            joinedload(Job.service),
            joinedload(Job.customer),
            joinedload(Job.provider),
            joinedload(Job.payment),
        )
    )
    if job is None:
        raise NotFound(f"No job #{job_id}")
    return job
