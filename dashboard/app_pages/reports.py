"""Finance reports with CSV and XLSX exports: payments received (the report, every payment
in it, and every refund and dispute in its range), and receivables aging (every unpaid
job). Files are made only when asked for: on click, or in the background for exports too
big for a page request.

Each row of the payments report shows gross, refunded, disputes lost, net and held (the
notes under the table say on which date each is counted).

Each tab is drawn by a function of its own, so that one tab waiting for input (a date
range with no end yet) leaves the other as it is. Money in the tables stays numeric (so
columns sort by amount) and the totals are shown above them, outside the sortable grid."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import plotly.express as px
import streamlit as st

from core.identity.accounts import SignedIn
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.reporting import export_sources
from core.reporting.export_sources import (
    AGING_COLUMNS,
    SUMMARY_COLUMNS,
    DetailSpec,
    Provenance,
    ReportSpec,
    summary_figures,
    summary_parameters,
    summary_table,
)
from core.reporting.reports import GROUPINGS, money_back_notes
from dashboard.components import downloads, reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import BRAND, money
from dashboard.components.runtime import READ_TTL_SECONDS, read_session, settings
from dashboard.components.safe_text import md

# Unpaid jobs listed on the page; a browser table of tens of thousands helps nobody, and
# the export streams every one.
AGING_ROWS_SHOWN = 500
DOLLARS = st.column_config.NumberColumn(format="dollar")
MONEY_TITLES = [c.title for c in SUMMARY_COLUMNS if c.money]


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=50, show_spinner=False)
def money_back_rows(actor: Actor, start: date, end: date) -> int:
    """How many refunds and disputes the range's export lists."""
    with read_session() as session:
        spec = DetailSpec("money_back", start, end)
        return export_sources.count_rows(session, actor=actor, spec=spec)


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
    # Each figure as wide as its value, wrapping onto a second line before one is cut
    # short ("$27,26…" in six equal columns).
    with st.container(horizontal=True, gap="medium", key="report_totals"):
        st.metric("Payments received", f"{total.payments:,}", width="content")
        for label, cents in [
            ("Gross received", total.gross),
            ("Refunded", total.refunded),
            ("Disputes lost", total.disputed),
            ("Net received", total.net),
            ("Held in open disputes", total.held),
        ]:
            st.metric(label, money(cents), width="content")
    figures = [summary_figures(r) for r in report.rows]
    table: dict[str, list[object]] = {grouping.title(): [r.label for r in report.rows]}
    for index, column in enumerate(SUMMARY_COLUMNS):
        # Dollars, numeric, so that the columns sort by amount.
        table[column.title] = [f[index] / 100 if column.money else f[index] for f in figures]
    st.dataframe(
        pd.DataFrame(table),
        column_config=dict.fromkeys(MONEY_TITLES, DOLLARS),
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "  \n".join(
            f"**{md(name)}**: {md(meaning)}" for name, meaning in money_back_notes(spec.basis)
        )
    )
    if report.rows:
        chart = pd.DataFrame(
            {
                "Label": [r.label for r in report.rows],
                "Net ($)": [r.net / 100 for r in report.rows],
            }
        )
        st.plotly_chart(
            px.bar(chart, x="Label", y="Net ($)", color_discrete_sequence=[BRAND])
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
    money_back = DetailSpec("money_back", spec.start, spec.end)
    moved = money_back_rows(actor, spec.start, spec.end)
    st.markdown(f"**Every refund and dispute in its range** ({moved:,})")
    st.caption(
        "Each on the day the report counts it on, whatever its status, with its reason and memo."
    )
    downloads.detail_downloads(actor, money_back, moved, key="money_back", provenance=provenance)


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
