"""Finance reports with CSV and XLSX exports: payments received, and receivables aging."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from core.identity.permissions import allowed
from core.reporting.exports import Column, to_csv, to_xlsx
from core.reporting.reports import GROUPINGS
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import BRAND, money, when

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
    columns = [Column(grouping.title()), Column("Payments"), Column("Amount", money=True)]
    rows = [[r.label, r.payments, r.amount] for r in report.rows]
    totals = ["Total", total.payments, total.amount]
    name = f"payments-by-{grouping}-{start}-{end}"
    a, b = st.columns(2)
    a.download_button(
        "Download CSV",
        to_csv(columns, rows, totals),
        f"{name}.csv",
        "text/csv",
        key="received_csv",
        icon=":material/download:",
    )
    b.download_button(
        "Download XLSX",
        to_xlsx(columns, rows, totals, title="Payments received"),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="received_xlsx",
        icon=":material/download:",
    )

with aging_tab:
    buckets, details = reads.aging(actor)
    owed = sum(b.amount for b in buckets)
    st.metric("Owed by customers", money(owed), help=f"{sum(b.payments for b in buckets)} jobs")
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
    detail_columns = [
        Column("Job #"),
        Column("Customer"),
        Column("Provider"),
        Column("Amount", money=True),
        Column("Due"),
        Column("Days past due"),
        Column("Bucket"),
        Column("Invoiced"),
    ]
    detail_rows = [
        [
            d.job_id,
            d.customer,
            d.provider,
            d.amount,
            when(d.due_date),
            d.days_past_due,
            d.bucket,
            "yes" if d.invoiced else "no",
        ]
        for d in details
    ]
    aging_totals = ["Total", "", "", owed, "", "", "", ""]
    with st.expander(f"The {len(details)} unpaid jobs"):
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
                columns=[c.title for c in detail_columns],
            ),
            hide_index=True,
            width="stretch",
        )
    a, b = st.columns(2)
    a.download_button(
        "Download CSV",
        to_csv(detail_columns, detail_rows, aging_totals),
        "receivables-aging.csv",
        "text/csv",
        key="aging_csv",
        icon=":material/download:",
    )
    b.download_button(
        "Download XLSX",
        to_xlsx(detail_columns, detail_rows, aging_totals, title="Receivables aging"),
        "receivables-aging.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="aging_xlsx",
        icon=":material/download:",
    )
