"""Every job, for admins: the providers' table across providers, plus bulk resend."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.billing.invoicing import resend_invoice
from core.errors import AppError
from core.identity.permissions import allowed
from core.jobs.queries import JobFilter
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import money, when
from dashboard.components.job_browser import job_browser
from dashboard.components.live import watch
from dashboard.components.runtime import context, data_changed

user = current_user()
if user is None or not allowed(user.actor, "jobs.manage"):
    st.stop()
st.title("All jobs")
watch(user.actor)  # toasts of failures as they happen
job_browser(user.actor, for_admin=True)

st.divider()
st.subheader("Resend overdue invoices")
overdue = reads.jobs_page(user.actor, JobFilter(overdue_only=True), 1, 200)
if not overdue.rows:
    st.caption("No invoice is overdue.")
else:
    labels = {
        row.job_id: f"#{row.job_id} · {row.customer} · {money(row.price)} · due "
        f"{when(row.due_date)}"
        for row in overdue.rows
    }
    chosen = st.multiselect(
        "Overdue invoices", list(labels), format_func=labels.__getitem__, key="bulk_resend_jobs"
    )
    if st.button(
        f"Resend {len(chosen)} invoice{'s' if len(chosen) != 1 else ''}",
        disabled=not chosen,
        key="bulk_resend",
    ):
        progress = st.progress(0.0, text="Resending…")
        results = []
        for index, job_id in enumerate(chosen, start=1):
            try:
                invoice = resend_invoice(context(), job_id=job_id, actor=user.actor)
                results.append(
                    {
                        "Job #": job_id,
                        "Result": "sent",
                        "Detail": invoice.number or invoice.invoice_id,
                    }
                )
            except AppError as error:
                results.append({"Job #": job_id, "Result": "failed", "Detail": error.message})
            progress.progress(index / len(chosen), text=f"{index} of {len(chosen)}")
        data_changed()
        st.session_state["bulk_results"] = results
    if st.session_state.get("bulk_results"):
        st.dataframe(pd.DataFrame(st.session_state["bulk_results"]), hide_index=True)
