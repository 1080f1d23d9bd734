"""Reconciliation for admins: find where the database and Stripe disagree, and fix it.

Every fix asks for a reason and lands in the audit log; manual payments and re-issues
can be previewed first.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import audit
from core.billing.admin_actions import ActionResult, record_manual_payment, void_and_reissue
from core.billing.drift_checks import record_check
from core.billing.reconcile import DriftReport, drift_report, parse_since
from core.billing.repairs import repair
from core.billing.replay import replay_events
from core.errors import AppError
from core.identity.permissions import allowed
from core.money import parse_cents
from core.reporting.exports import Column, to_csv
from dashboard.components.auth import current_user
from dashboard.components.formatting import when
from dashboard.components.runtime import context, data_changed, read_session
from dashboard.components.safe_text import md

user = current_user()
if user is None or not allowed(user.actor, "reconcile"):
    st.stop()
actor = user.actor
st.title("Reconciliation")
drift_tab, replay_tab, manual_tab, reissue_tab, audit_tab = st.tabs(
    ["Drift report", "Replay events", "Manual payment", "Void and re-issue", "Audit log"]
)

with drift_tab:
    window = st.selectbox(
        "Jobs completed",
        ["in the last 7 days", "in the last 30 days", "ever"],
        index=2,
        key="drift_window",
    )
    if st.button(
        "Compare with Stripe", type="primary", key="drift_check", icon=":material/compare_arrows:"
    ):
        since = {"in the last 7 days": "7d", "in the last 30 days": "30d"}.get(window)
        with st.spinner("Reading Stripe's invoices…"):
            try:
                st.session_state["drift"] = drift_report(
                    context(), actor=actor, since=parse_since(since) if since else None
                )
                # For the overview's drift tile.
                record_check(context(), st.session_state["drift"], actor=actor)
            except AppError as error:
                st.error(md(error.message))
    report: DriftReport | None = st.session_state.get("drift")
    if report is not None:
        drifts = report.drifts
        st.caption(
            f"Checked {report.jobs_checked} jobs against {report.invoices_read} Stripe invoices."
        )
        if not report.drifts:
            st.success("The database and Stripe agree.")
        else:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "#": i,
                            "Kind": d.title,
                            "Job #": d.job_id,
                            "Ours": d.ours,
                            "Stripe's": d.stripes,
                            "Proposed fix": d.fix,
                        }
                        for i, d in enumerate(report.drifts, start=1)
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
            reason = st.text_input("Reason (kept in the audit log)", key="drift_reason")
            left, right = st.columns(2)
            choice = left.selectbox(
                "Fix one",
                list(range(len(drifts))),
                key="drift_choice",
                format_func=lambda i: f"#{i + 1} · job {drifts[i].job_id} · {drifts[i].title}",
            )
            chosen = drifts[choice if choice is not None else 0]
            results = []
            if left.button("Apply this fix", key="drift_apply_one", disabled=not reason.strip()):
                results = [repair(context(), chosen, actor=actor, reason=reason)]
            if right.button(
                f"Apply all {len(report.drifts)} fixes",
                key="drift_apply_all",
                disabled=not reason.strip(),
            ):
                progress = right.progress(0.0, text="Repairing…")
                for index, drift in enumerate(report.drifts, start=1):
                    results.append(repair(context(), drift, actor=actor, reason=reason))
                    progress.progress(
                        index / len(report.drifts), text=f"{index} of {len(report.drifts)}"
                    )
            if results:
                data_changed()
                st.session_state["drift_results"] = [
                    {
                        "Job #": r.drift.job_id,
                        "Kind": r.drift.title,
                        "Result": "fixed" if r.ok else "not fixed",
                        "Detail": r.message,
                    }
                    for r in results
                ]
                st.session_state.pop("drift")
                st.rerun()
    if st.session_state.get("drift_results"):
        st.subheader("Last fixes")
        st.dataframe(
            pd.DataFrame(st.session_state["drift_results"]), hide_index=True, width="stretch"
        )
        st.caption("Compare again to confirm nothing is left.")

with replay_tab:
    st.write(
        "Fetch Stripe's events and pass the ones we never handled through the webhook "
        "handlers (each event applies at most once)."
    )
    since_text = st.text_input(
        "Since (7d, 24h, a date; empty: the newest event handled, minus 10 minutes)",
        key="replay_since",
    )
    if st.button("Replay events", key="replay", icon=":material/replay:"):
        try:
            result = replay_events(
                context(),
                actor=actor,
                since=parse_since(since_text.strip()) if since_text.strip() else None,
            )
        except AppError as error:
            st.error(md(error.message))
        else:
            data_changed()
            outcomes = ", ".join(f"{n} {o}" for o, n in sorted(result.outcomes.items()))
            st.success(
                f"{result.events} events since {when(result.since, with_time=True)}: "
                f"{outcomes or 'nothing to do'}."
            )


def show_result(result: ActionResult) -> None:
    (st.success if result.applied else st.info)(md(result.message))
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Field": key,
                    "Before": str(result.before.get(key, "")),
                    "After": str(result.after.get(key, "")),
                }
                for key in dict.fromkeys([*result.before, *result.after])
            ]
        ),
        hide_index=True,
    )


with manual_tab:
    st.write(
        "A customer paid by cash or cheque: record it here, and the invoice is marked "
        "paid outside Stripe so both sides agree."
    )
    job_id = st.number_input("Job #", min_value=1, step=1, key="manual_job")
    reason = st.text_input("Reason", key="manual_reason", placeholder="Cash received on site")
    left, right = st.columns(2)
    for button, preview in ((left, True), (right, False)):
        label = "Preview" if preview else "Record the payment"
        if button.button(
            label,
            key=f"manual_{'preview' if preview else 'apply'}",
            type="secondary" if preview else "primary",
        ):
            try:
                show_result(
                    record_manual_payment(
                        context(), job_id=int(job_id), actor=actor, reason=reason, preview=preview
                    )
                )
                if not preview:
                    data_changed()
            except AppError as error:
                st.error(md(error.message))

with reissue_tab:
    st.write(
        "The invoice has the wrong amount: void it, correct the job's price and send a new invoice."
    )
    job_id = st.number_input("Job #", min_value=1, step=1, key="reissue_job")
    price_text = st.text_input("Correct price ($)", key="reissue_price", placeholder="150.00")
    reason = st.text_input("Reason", key="reissue_reason", placeholder="Quoted the wrong rate")
    left, right = st.columns(2)
    for button, preview in ((left, True), (right, False)):
        label = "Preview" if preview else "Void and re-issue"
        if button.button(
            label,
            key=f"reissue_{'preview' if preview else 'apply'}",
            type="secondary" if preview else "primary",
        ):
            try:
                show_result(
                    void_and_reissue(
                        context(),
                        job_id=int(job_id),
                        new_price=parse_cents(price_text),
                        actor=actor,
                        reason=reason,
                        preview=preview,
                    )
                )
                if not preview:
                    data_changed()
            except AppError as error:
                st.error(md(error.message))

with audit_tab:
    a, b, c = st.columns(3)
    audit_job = a.number_input(
        "Job #", min_value=0, step=1, key="audit_job", help="0 for every job"
    )
    action = b.selectbox(
        "Action",
        ["", "reconcile.", "payment.manual", "invoice.", "job."],
        format_func=lambda x: x or "any",
        key="audit_action",
    )
    who = c.text_input("Who", key="audit_actor", placeholder="admin:1")
    with read_session() as session:
        entries = audit.search(
            session, job_id=int(audit_job) or None, action=action or None, actor=who.strip() or None
        )
        rows = [
            [
                e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.action,
                e.job_id,
                e.reason or "",
                e.result,
                str(e.before or ""),
                str(e.after or ""),
                e.error or "",
            ]
            for e in entries
        ]
    columns = [
        Column(t)
        for t in ("When", "Who", "Action", "Job #", "Reason", "Result", "Before", "After", "Error")
    ]
    st.dataframe(
        pd.DataFrame(rows, columns=[c.title for c in columns]), hide_index=True, width="stretch"
    )
    st.download_button(
        "Download CSV",
        to_csv(columns, rows),
        "audit-log.csv",
        "text/csv",
        key="audit_csv",
        icon=":material/download:",
    )
