"""Finance reports with CSV and XLSX exports: payments received (the report, and every
payment in it), and receivables aging (every unpaid job). Files are made only when asked
for: on click, or in the background for exports too big for a page request."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from core.identity.permissions import allowed
from core.reporting.export_sources import AGING_COLUMNS, DetailSpec, summary_table
from core.reporting.reports import GROUPINGS
from dashboard.components import downloads, reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import BRAND, money, when

# Unpaid jobs listed on the page; a browser table of tens of thousands helps nobody, and
# the export streams every one.
AGING_ROWS_SHOWN = 500

user = current_user()
if user is None or not allowed(user.actor, "reports.read"):
    st.stop()
actor = user.actor
st.title("Reports")

received_tab, aging_tab = st.tabs(["Payments received", "Receivables aging"])

with received_tab:
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
        st.info("Pick a start and an end date.")
        st.stop()
    start, end = span
    report = reads.payments_report(
        actor, start, end, grouping, "paid" if basis == "paid" else "completed"
    )
    total = report.total
    st.caption(report.title)
    frame = pd.DataFrame(
        [
            {grouping.title(): r.label, "Payments": r.payments, "Amount": money(r.amount)}
            for r in [*report.rows, total]
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
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
        name=f"payments-by-{grouping}-{start}-{end}",
        title="Payments received",
        key="received",
    )
    st.markdown(f"**Every payment in it** ({total.payments:,})")
    downloads.detail_downloads(
        actor,
        DetailSpec("payments", start, end, "paid" if basis == "paid" else "completed"),
        total.payments,
        key="payments",
    )

with aging_tab:
    buckets, details = reads.aging(actor, AGING_ROWS_SHOWN)
    owed = sum(b.amount for b in buckets)
    unpaid = sum(b.payments for b in buckets)
    st.metric("Owed by customers", money(owed), help=f"{unpaid} jobs")
    st.dataframe(
        pd.DataFrame(
            [
                {"Days past due": b.label, "Jobs": b.payments, "Amount": money(b.amount)}
                for b in buckets
            ]
            + [
                {
                    "Days past due": "Total",
                    "Jobs": sum(b.payments for b in buckets),
                    "Amount": money(owed),
                }
            ]
        ),
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
                        money(d.amount),
                        when(d.due_date),
                        d.days_past_due,
                        d.bucket,
                        "yes" if d.invoiced else "no",
                    ]
                    for d in details
                ],
                columns=[c.title for c in AGING_COLUMNS],
            ),
            hide_index=True,
            width="stretch",
        )
    downloads.detail_downloads(actor, DetailSpec("aging"), unpaid, key="aging")
