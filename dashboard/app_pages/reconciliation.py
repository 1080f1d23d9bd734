"""Reconciliation for admins: find where the database and Stripe disagree, and fix it.

Every fix asks for a reason and lands in the audit log; manual payments and re-issues
can be previewed first.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import audit
from core.audit import plural
from core.billing.admin_actions import ActionResult, record_manual_payment, void_and_reissue
from core.billing.bulk_impact import (
    EMAILS_CUSTOMER,
    Impact,
    impact,
    result_detail,
    results_summary,
)
from core.billing.drift_checks import record_check
from core.billing.outcome_text import describe_outcome, sentence
from core.billing.reconcile import Drift, DriftReport, drift_report, parse_since
from core.billing.repairs import RepairResult, repair
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
CONFIRM_ALL = "drift_confirm_all_asked"
ACTION_FILTERS = {
    "": "any",
    "reconcile.": "Reconciliation fixes",
    "payment.": "Payments by hand",
    "invoice.": "Invoices",
    "job.": "Jobs",
}
st.title("Reconciliation")
drift_tab, replay_tab, manual_tab, reissue_tab, audit_tab = st.tabs(
    ["Drift report", "Replay events", "Manual payment", "Void and re-issue", "Audit log"]
)


def apply_all(drifts: list[Drift], reason: str) -> list[RepairResult]:
    """Every fix, one after the other, with a progress bar and a summary at the end."""
    results: list[RepairResult] = []
    with st.status(f"Applying {plural(len(drifts), 'fix', 'fixes')}…", expanded=True) as box:
        progress = box.progress(0.0, text="Repairing…")
        for index, drift in enumerate(drifts, start=1):
            results.append(repair(context(), drift, actor=actor, reason=reason))
            progress.progress(index / len(drifts), text=f"{index} of {len(drifts)}")
        failed = any(not r.ok for r in results)
        box.update(label=results_summary(results), state="error" if failed else "complete")
    return results


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
        st.session_state.pop(CONFIRM_ALL, None)
        with st.spinner("Reading Stripe's invoices, refunds and disputes…"):
            try:
                found = drift_report(
                    context(), actor=actor, since=parse_since(since) if since else None
                )
                record_check(context(), found, actor=actor)  # for the overview's drift tile
                st.session_state["drift"] = found
                st.session_state["drift_impact"] = impact(context(), found.drifts)
            except AppError as error:
                st.error(md(error.message))
    report: DriftReport | None = st.session_state.get("drift")
    if report is not None:
        drifts = report.drifts
        st.caption(
            f"Checked {plural(report.jobs_checked, 'job')} against "
            f"{plural(report.invoices_read, 'Stripe invoice')}, "
            f"{plural(report.refunds_read, 'refund')} and "
            f"{plural(report.disputes_read, 'dispute')}."
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
                            "Proposed fix": sentence(d.fix),
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
            if chosen.repairable and chosen.kind in EMAILS_CUSTOMER:
                left.caption("This fix e-mails the customer an invoice.")
            results: list[RepairResult] = []
            if left.button("Apply this fix", key="drift_apply_one", disabled=not reason.strip()):
                results = [repair(context(), chosen, actor=actor, reason=reason)]
            all_label = "Apply 1 fix" if len(drifts) == 1 else f"Apply all {len(drifts)} fixes"
            if right.button(all_label, key="drift_apply_all", disabled=not reason.strip()):
                st.session_state[CONFIRM_ALL] = True
            planned: Impact = st.session_state["drift_impact"]
            if st.session_state.get(CONFIRM_ALL) and reason.strip():
                # Bulk fixes can e-mail many customers at once: say so, and ask first.
                right.warning(md(planned.summary()))
                yes_label = (
                    f"Yes, apply and e-mail {plural(planned.customers, 'customer')}"
                    if planned.reaches_customers
                    else f"Yes, apply {plural(planned.fixes, 'fix', 'fixes')}"
                )
                yes, no = right.columns(2)
                if yes.button(yes_label, type="primary", key="drift_confirm_all"):
                    st.session_state.pop(CONFIRM_ALL)
                    results = apply_all(drifts, reason)
                if no.button("Not now", key="drift_confirm_no"):
                    st.session_state.pop(CONFIRM_ALL)
                    st.rerun()
            if results:
                data_changed()
                st.session_state["drift_summary"] = results_summary(results)
                st.session_state["drift_results"] = [
                    {
                        "Job #": r.drift.job_id,
                        "Kind": r.drift.title,
                        "Result": "Fixed" if r.ok else "Not fixed",
                        "Detail": result_detail(r),
                    }
                    for r in results
                ]
                st.session_state.pop("drift")
                st.rerun()
    if st.session_state.get("drift_results"):
        st.subheader("Last fixes")
        st.write(md(st.session_state["drift_summary"]))
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
            outcomes = ", ".join(
                f"{n} {describe_outcome(o).lower()}" for o, n in sorted(result.outcomes.items())
            )
            st.success(
                md(
                    f"{plural(result.events, 'event')} since "
                    f"{when(result.since, with_time=True)} UTC: {outcomes or 'nothing to do'}."
                )
            )


def show_result(result: ActionResult) -> None:
    (st.success if result.applied and result.finished else st.info)(md(result.message))
    lines = result.changes
    st.markdown(
        ("What changes:" if not result.applied else "What changed:")
        + "\n"
        + "\n".join(f"- {md(line)}" for line in lines)
        if lines
        else "Nothing changes."
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
        ["", "reconcile.", "payment.", "invoice.", "job."],
        format_func=lambda x: ACTION_FILTERS[x],
        key="audit_action",
    )
    with read_session() as session:
        labels = audit.actors(session)
        names = audit.actor_names(session, labels)
        who = c.selectbox(
            "Who",
            ["", *sorted(labels, key=lambda label: names[label].lower())],
            format_func=lambda label: names[label] if label else "anyone",
            key="audit_actor",
        )
        entries = audit.readable(
            session,
            audit.search(
                session,
                job_id=int(audit_job) or None,
                action=action or None,
                actor=who or None,
            ),
        )
    shown_columns = ["When (UTC)", "Who", "What", "Job #", "Reason", "Result", "Changes", "Error"]
    st.dataframe(
        pd.DataFrame(
            [
                [
                    e.at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.who,
                    e.what,
                    "—" if e.job_id is None else str(e.job_id),  # sign-ins name no job
                    e.reason,
                    e.result,
                    "; ".join(e.changes),
                    e.error,
                ]
                for e in entries
            ],
            columns=shown_columns,
        ),
        hide_index=True,
        width="stretch",
    )
    # The file keeps the recorded facts too: the actor's id, the action's code and the
    # before and after as JSON, for anyone who reads it with a program.
    columns = [
        Column(t) for t in (*shown_columns[:3], "Job #", "Reason", "Result", "Changes", "Error")
    ] + [Column(t) for t in ("Actor", "Action", "Before (JSON)", "After (JSON)")]
    rows = [
        [
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.who,
            e.what,
            e.job_id,
            e.reason,
            e.result,
            "; ".join(e.changes),
            e.error,
            e.actor,
            e.action,
            e.before_json,
            e.after_json,
        ]
        for e in entries
    ]
    st.download_button(
        "Download CSV",
        to_csv(columns, rows),
        "audit-log.csv",
        "text/csv",
        key="audit_csv",
        icon=":material/download:",
    )
