"""The payment reminders of a job's open invoice in its drawer: the last sent and the next
due, and for admins pausing or resuming the customer's reminders, with the reason. Here
rather than on the Outbox page: a late invoice is chased from its job, and this is where
whoever deals with that customer's invoice looks."""

from __future__ import annotations

import streamlit as st

from core.billing.reminders import pause_reminders, resume_reminders
from core.errors import AppError
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.jobs.queries import JobRow
from dashboard.components import reads
from dashboard.components.formatting import when
from dashboard.components.runtime import context, data_changed
from dashboard.components.safe_text import md

CHASED = ("open", "overdue")
RESULT_KEY = "reminder_result"


def _reason_key(job_id: int) -> str:
    return f"reminder_reason_{job_id}"


def _change(actor: Actor, job_id: int, customer_id: int, pause: bool) -> None:
    reason = str(st.session_state.get(_reason_key(job_id)) or "")
    try:
        if pause:
            pause_reminders(context(), customer_id=customer_id, actor=actor, reason=reason)
            text = "Reminders to this customer are paused."
        else:
            resume_reminders(context(), customer_id=customer_id, actor=actor, reason=reason)
            text = "Reminders to this customer are on again."
    except AppError as error:
        st.session_state[RESULT_KEY] = (job_id, "error", error.message)
        return
    data_changed()
    st.session_state[_reason_key(job_id)] = ""
    st.session_state[RESULT_KEY] = (job_id, "success", text)


def reminder_section(actor: Actor, row: JobRow) -> None:
    if row.invoice_status not in CHASED:
        return
    info = reads.job_reminders(actor, row.job_id)
    st.caption(md(info.words))
    if not allowed(actor, "reminders.manage"):
        return
    if info.pause is not None:
        # The reason is an admin's own words: shown as text.
        st.caption(md(f"Paused by {info.pause.by} on {when(info.pause.at)}: {info.pause.reason}"))
    paused = info.status.paused
    cols = st.columns([3, 2], vertical_alignment="bottom")
    cols[0].text_input(
        "Reason (optional)" if paused else "Reason to pause",
        key=_reason_key(row.job_id),
        placeholder="Kept in the audit log",
    )
    cols[1].button(
        "Resume reminders" if paused else "Pause reminders",
        key=f"reminder_toggle_{row.job_id}",
        icon=":material/notifications_active:" if paused else ":material/notifications_paused:",
        help="For every job of this customer",
        on_click=_change,
        args=(actor, row.job_id, info.customer_id, not paused),
    )
    result = st.session_state.get(RESULT_KEY)
    if result and result[0] == row.job_id:
        st.session_state.pop(RESULT_KEY)
        (st.success if result[1] == "success" else st.error)(md(result[2]))
