"""The buttons that change a job: mark complete, send invoice, resend invoice.

Each runs core under a visible status, shows the invoice link or the error in words, and
clears the cached reads so the table shows the new state.
"""

from __future__ import annotations

import streamlit as st

from core.billing.invoicing import InvoiceResult, resend_invoice, send_invoice
from core.errors import AppError, InvoicingFailed
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job
from core.jobs.queries import JobRow
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


def action_buttons(actor: Actor, row: JobRow) -> None:
    """The actions that make sense for this job now; finance never gets here."""
    confirm_key = f"confirm_complete_{row.job_id}"
    if row.job_status == "new":
        if st.session_state.get(confirm_key):
            st.warning(
                f"Mark job #{row.job_id} complete and send the customer an invoice for "
                f"${row.price / 100:,.2f}?"
            )
            yes, no = st.columns(2)
            if yes.button("Yes, complete and invoice", type="primary", key=f"yes_{row.job_id}"):
                st.session_state[confirm_key] = False
                mark_complete(actor, row.job_id)
                st.rerun()
            if no.button("Cancel", key=f"no_{row.job_id}"):
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
