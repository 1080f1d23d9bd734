"""Finance reports with CSV and XLSX exports: payments received (the report, and every
payment in it), and receivables aging (every unpaid job). Files are made only when asked
for: on click, or in the background for exports too big for a page request.

Each tab is drawn by a function of its own, so that one tab waiting for input (a date
range with no end yet) leaves the other as it is. Money in the tables stays numeric (so
columns sort by amount) and the totals are shown above them, outside the sortable grid."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from core.identity.accounts import SignedIn
from core.identity.permissions import allowed
from core.reporting.export_sources import (
    AGING_COLUMNS,
    DetailSpec,
    Provenance,
    ReportSpec,
    summary_parameters,
    summary_table,
)
from core.reporting.reports import GROUPINGS
from dashboard.components import downloads, reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import BRAND, money
from dashboard.components.runtime import settings

# Unpaid jobs listed on the page; a browser table of tens of thousands helps nobody, and
# the export streams every one.
AGING_ROWS_SHOWN = 500
DOLLARS = st.column_config.NumberColumn(format="dollar")


def payments_received(user: SignedIn, provenance: Provenance) -> None:
    actor = user.actor
    today = date.today()
    left, middle, right = st.columns([2, 1, 1])
    span = left.date_input(
        "Date range",
        value=(today.replace(day=1) - timedelta(days=365), today),
        key="report_dates",
        format="YYYY-MM-DD",
    )
    basis = middle.radio(
        "Date basis",
        ["paid", "completed"],
        key="report_basis",
        format_func=lambda b: "Paid date" if b == "paid" else "Completed date",
    )
    grouping = right.selectbox("Group by", GROUPINGS, index=2, key="report_grouping")
    if not isinstance(span, tuple) or len(span) != 2:
        st.info("Pick the end date too: the report covers the start date to the end date.")
        return
    start, end = span
    spec = ReportSpec(start, end, grouping, "paid" if basis == "paid" else "completed")
    report = reads.payments_report(actor, spec.start, spec.end, spec.group_by, spec.basis)
    total = report.total
    st.caption(report.title)
    payments, amount = st.columns(2)
    payments.metric("Payments received", f"{total.payments:,}")
    amount.metric("Amount received", money(total.amount))
    st.dataframe(
        pd.DataFrame(
            {
                grouping.title(): [r.label for r in report.rows],
                "Payments": [r.payments for r in report.rows],
                "Amount": [r.amount / 100 for r in report.rows],
            }
        ),
        column_config={"Amount": DOLLARS},
        hide_index=True,
        width="stretch",
    )
    if report.rows:
        chart = pd.DataFrame(
            {
                "Label": [r.label for r in report.rows],
                "Amount ($)": [r.amount / 100 for r in report.rows],
            }
        )
        st.plotly_chart(
            px.bar(chart, x="Label", y="Amount ($)", color_discrete_sequence=[BRAND])
            .update_xaxes(type="category")
            .update_layout(
                height=300,
                margin={"t": 10, "b": 10},
                yaxis_tickprefix="$",
                xaxis_title=grouping.title(),
            ),
            width="stretch",
            key="report_chart",
        )
    columns, rows, totals = summary_table(report, grouping)
    st.markdown("**This report**")
    downloads.report_downloads(
        columns,
        rows,
        totals,
        name=spec.file_stem,
        title="Payments received",
        key="received",
        about=lambda: summary_parameters(spec, actor=actor, provenance=provenance),
    )
    st.markdown(f"**Every payment in it** ({total.payments:,})")
    downloads.detail_downloads(
        actor,
        DetailSpec("payments", spec.start, spec.end, spec.basis),
        total.payments,
        key="payments",
        provenance=provenance,
    )


def receivables_aging(user: SignedIn, provenance: Provenance) -> None:
    actor = user.actor
    buckets, details = reads.aging(actor, AGING_ROWS_SHOWN)
    owed = sum(b.amount for b in buckets)
    unpaid = sum(b.payments for b in buckets)
    owed_column, jobs_column = st.columns(2)
    owed_column.metric("Owed by customers", money(owed))
    jobs_column.metric("Unpaid jobs", f"{unpaid:,}")
    st.dataframe(
        pd.DataFrame(
            {
                "Bucket": [b.label for b in buckets],
                "Jobs": [b.payments for b in buckets],
                "Amount": [b.amount / 100 for b in buckets],
            }
        ),
        column_config={"Amount": DOLLARS},
        hide_index=True,
        width="stretch",
    )
    shown = (
        f"The {unpaid:,} unpaid jobs"
        if unpaid <= len(details)
        else f"The {len(details):,} oldest of {unpaid:,} unpaid jobs (the export has them all)"
    )
    with st.expander(shown):
        st.dataframe(
            pd.DataFrame(
                [
                    [
                        d.job_id,
                        d.customer,
                        d.provider,
                        d.amount / 100,
                        d.due_date.date() if d.due_date else None,
                        d.days_past_due,
                        d.bucket,
                        "yes" if d.invoiced else "no",
                    ]
                    for d in details
                ],
                columns=[c.title for c in AGING_COLUMNS],
            ),
            column_config={
                "Amount": DOLLARS,
                "Due": st.column_config.DateColumn(format="YYYY-MM-DD"),
            },
            hide_index=True,
            width="stretch",
        )
    downloads.detail_downloads(
        actor, DetailSpec("aging"), unpaid, key="aging", provenance=provenance
    )


user = current_user()
if user is None or not allowed(user.actor, "reports.read"):
    st.stop()
st.title("Reports")
provenance = Provenance(user.display_name, settings().currency)
received_tab, aging_tab = st.tabs(["Payments received", "Receivables aging"])
with received_tab:
    payments_received(user, provenance)
with aging_tab:
    receivables_aging(user, provenance)
