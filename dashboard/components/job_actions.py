"""The buttons that change a job: mark complete, send invoice, resend invoice, and for
admins cancel a job that was not paid or refund a paid one (dashboard.components.refund_form).

Each runs core under a visible status, shows the invoice link or the error in words, and
clears the cached reads so the table shows the new state.
"""

from __future__ import annotations

import streamlit as st

from core.billing.admin_actions import CANCELLABLE, cancel_unpaid_job
from core.billing.invoicing import InvoiceResult, resend_invoice, send_invoice
from core.errors import AppError, InvoicingFailed
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.jobs.lifecycle import complete_job
from core.jobs.queries import JobRow
from dashboard.components.formatting import money
from dashboard.components.refund_form import refund_section
from dashboard.components.runtime import context, data_changed
from dashboard.components.safe_text import md

RESULT_KEY = "last_action"
SELECT_NEXT_KEY = "select_job_next_run"


def _remember(job_id: int, kind: str, text: str, invoice: InvoiceResult | None = None) -> None:
    st.session_state[SELECT_NEXT_KEY] = job_id  # the detail stays on this job after the rerun
    st.session_state[RESULT_KEY] = {
        "job_id": job_id,
        "kind": kind,
        "text": text,
        "url": invoice.hosted_invoice_url if invoice else None,
        "pdf": invoice.invoice_pdf if invoice else None,
    }


def remember_result(job_id: int, text: str) -> None:
    """A success told on the job's detail after the rerun (e.g. a job just booked)."""
    _remember(job_id, "success", text)


def last_action_job() -> int | None:
    result = st.session_state.get(RESULT_KEY)
    return int(result["job_id"]) if result else None


def show_last_result(job_id: int) -> None:
    result = st.session_state.get(RESULT_KEY)
    if not result or result["job_id"] != job_id:
        return
    # Messages carry Stripe's and people's words: shown as text.
    (st.success if result["kind"] == "success" else st.error)(md(result["text"]))
    if result["url"]:
        left, right = st.columns(2)
        left.link_button("Open the invoice", result["url"], icon=":material/open_in_new:")
        right.link_button("Invoice PDF", result["pdf"], icon=":material/picture_as_pdf:")


def _invoice_text(invoice: InvoiceResult) -> str:
    due = f", due {invoice.due_date:%B %d, %Y}" if invoice.due_date else ""
    return f"Invoice {invoice.number or invoice.invoice_id} is {invoice.status}{due}."


def mark_complete(actor: Actor, job_id: int) -> None:
    with st.status(f"Completing job #{job_id} and sending its invoice…", expanded=True) as box:
        try:
            result = complete_job(context(), job_id=job_id, actor=actor)
        except AppError as error:
            box.update(label="Not completed", state="error")
            _remember(job_id, "error", error.message)
            return
        finally:
            data_changed()
        if result.error is not None:
            box.update(label="Completed, but the invoice was not sent", state="error")
            _remember(job_id, "error", f"{result.error.message}")
        else:
            assert result.invoice is not None
            box.update(label="Completed and invoiced", state="complete")
            _remember(
                job_id, "success", "Job completed. " + _invoice_text(result.invoice), result.invoice
            )


def send(actor: Actor, job_id: int, *, again: bool) -> None:
    label = "Sending the invoice again…" if again else "Creating and sending the invoice…"
    with st.status(label, expanded=True) as box:
        try:
            action = resend_invoice if again else send_invoice
            invoice = action(context(), job_id=job_id, actor=actor)
        except InvoicingFailed as failure:
            box.update(label="The invoice was not sent", state="error")
            _remember(job_id, "error", failure.message)
        except AppError as error:
            box.update(label="The invoice was not sent", state="error")
            _remember(job_id, "error", error.message)
        else:
            box.update(label="Invoice sent", state="complete")
            _remember(
                job_id,
                "success",
                ("Sent again. " if again else "Sent. ") + _invoice_text(invoice),
                invoice,
            )
        finally:
            data_changed()


def cancel(actor: Actor, job_id: int, reason: str) -> None:
    with st.status(f"Cancelling job #{job_id}…", expanded=True) as box:
        try:
            result = cancel_unpaid_job(context(), job_id=job_id, actor=actor, reason=reason)
        except AppError as error:
            box.update(label="Not cancelled", state="error")
            _remember(job_id, "error", error.message)
            return
        finally:
            data_changed()
        if result.finished:
            box.update(label="Job cancelled", state="complete")
            _remember(job_id, "success", result.message)
        else:
            box.update(label="Cancelled, but its invoice can still be paid", state="error")
            _remember(job_id, "error", result.message)


def can_cancel(actor: Actor, row: JobRow) -> bool:
    return (
        allowed(actor, "job.cancel_unpaid")
        and row.job_status in CANCELLABLE
        and row.payment_status == "pending"
    )


def cancel_button(actor: Actor, row: JobRow) -> None:
    """Cancel asks first: what happens to the invoice, and a reason for the audit log."""
    asked_key = f"confirm_cancel_{row.job_id}"
    if not st.session_state.get(asked_key):
        if st.button("Cancel job…", key=f"cancel_{row.job_id}", icon=":material/block:"):
            st.session_state[asked_key] = True
            st.rerun()
        return
    invoice = (
        "Its invoice is voided in Stripe, so the customer can no longer pay it."
        if row.invoice_status in ("open", "overdue", "uncollectible", "draft")
        else "No invoice of it is open."
    )
    st.warning(
        f"Cancel job #{row.job_id} ({md(row.service)} for {md(row.customer)}, "
        f"{md(money(row.price))})? {invoice} This cannot be undone."
    )
    reason = st.text_input(
        "Reason (kept in the audit log)",
        key=f"cancel_reason_{row.job_id}",
        placeholder="Customer cancelled the visit",
    )
    yes, no = st.columns(2)
    if yes.button(
        f"Yes, cancel job #{row.job_id}",
        type="primary",
        key=f"cancel_yes_{row.job_id}",
        disabled=not reason.strip(),
    ):
        st.session_state[asked_key] = False
        cancel(actor, row.job_id, reason)
        st.rerun()
    if no.button("Keep the job", key=f"cancel_no_{row.job_id}"):
        st.session_state[asked_key] = False
        st.rerun()


def action_buttons(actor: Actor, row: JobRow) -> None:
    """The actions that make sense for this job now; finance never gets here."""
    primary(actor, row)
    if can_cancel(actor, row):
        cancel_button(actor, row)
    refund_section(actor, row)  # admins, a paid job


def primary(actor: Actor, row: JobRow) -> None:
    """Complete, send or resend: the one next step of the job's flow."""
    confirm_key = f"confirm_complete_{row.job_id}"
    if row.job_status == "new":
        if st.session_state.get(confirm_key):
            st.warning(
                f"Mark job #{row.job_id} complete and send the customer an invoice for "
                f"{money(row.price)}?"
            )
            yes, no = st.columns(2)
            if yes.button("Yes, complete and invoice", type="primary", key=f"yes_{row.job_id}"):
                st.session_state[confirm_key] = False
                mark_complete(actor, row.job_id)
                st.rerun()
            if no.button("Not now", key=f"no_{row.job_id}"):
                st.session_state[confirm_key] = False
                st.rerun()
        elif st.button(
            "Mark complete",
            type="primary",
            key=f"complete_{row.job_id}",
            icon=":material/task_alt:",
        ):
            st.session_state[confirm_key] = True
            st.rerun()
    elif row.job_status == "completed" and row.invoice_status in ("none", "draft"):
        label = "Retry sending the invoice" if row.invoice_status == "draft" else "Send invoice"
        if st.button(label, type="primary", key=f"send_{row.job_id}", icon=":material/send:"):
            send(actor, row.job_id, again=False)
            st.rerun()
    elif row.invoice_status in ("open", "overdue"):
        if st.button(
            "Resend invoice", key=f"resend_{row.job_id}", icon=":material/forward_to_inbox:"
        ):
            send(actor, row.job_id, again=True)
            st.rerun()
