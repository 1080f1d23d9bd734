"""A provider's earnings: balance, jobs paid, what is still owed, by month and category.

Every figure is net of money that moved back (core.reporting.earnings): the balance is
what the received payments brought in less refunds and lost disputes, shown apart with
what open disputes hold; each month and category is net the same way."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from core.reporting.earnings import EarningsSummary
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import BRAND, money
from dashboard.components.live import live_section
from dashboard.components.safe_text import md

# Dollars stay numbers in the tables, so they sort as amounts; the column shows them as money.
DOLLARS = st.column_config.NumberColumn("Earned", format="$%.2f")
DOLLAR_AXIS = {"Earned": "Earned ($)"}

user = current_user()
if user is None or user.actor.role != "provider" or user.actor.id is None:
    st.stop()
actor, provider_id = user.actor, user.actor.id
st.title("Earnings")


def money_back(summary: EarningsSummary) -> None:
    """Refunds and disputes apart from the balance, for a provider who has had any."""
    if not (summary.refunded or summary.dispute_lost or summary.held):
        return
    received, refunded, month, lost, held = st.columns(5)
    received.metric(
        "Received", money(summary.received), help="Payments received, before anything moved back"
    )
    refunded.metric("Refunded", money(summary.refunded), help="All refunds, all time")
    month.metric("Refunded this month", money(summary.refunded_this_month))
    lost.metric("Lost to disputes", money(summary.dispute_lost))
    held.metric(
        "Held in disputes",
        money(summary.held),
        help="Open disputes: still in the balance, taken off only if the bank decides against you",
    )
    # Money as text: a "$" pair would otherwise be read as mathematics.
    st.caption(
        md(
            f"Balance {money(summary.balance)} = received {money(summary.received)} − "
            f"refunded {money(summary.refunded)} − lost to disputes "
            f"{money(summary.dispute_lost)}."
        )
    )


def render() -> None:
    overview = reads.earnings_overview(actor, provider_id)
    summary, months, categories, recent = (
        overview.summary,
        overview.by_month,
        overview.by_category,
        overview.last_days,
    )

    a, b, c, d = st.columns(4)
    a.metric(
        "Balance",
        money(summary.balance),
        help="Payments received, less refunds and disputes lost",
    )
    b.metric("Jobs paid", summary.jobs_paid, help="Not counting jobs refunded in full")
    c.metric(
        "Outstanding",
        money(summary.outstanding),
        help=f"{summary.jobs_outstanding} completed job(s) not paid yet",
    )
    d.metric(
        "Last 30 days",
        money(recent.amount),
        help=f"{recent.count} payment(s), less what moved back in those days",
    )
    money_back(summary)

    st.subheader("By month")
    st.caption(
        "Net: each month's payments received, less the refunds dated in it and the "
        "disputes lost in it, so the months add up to the balance."
    )
    monthly = pd.DataFrame(
        {
            "Month": [m.label[:7] for m in months],
            "Earned": [m.amount / 100 for m in months],
            "Payments": [m.count for m in months],
        }
    )
    chart = px.bar(
        monthly, x="Month", y="Earned", labels=DOLLAR_AXIS, color_discrete_sequence=[BRAND]
    )
    chart.update_traces(texttemplate="$%{y:,.0f}", textposition="outside", cliponaxis=False)
    chart.update_xaxes(type="category")
    chart.update_layout(margin={"t": 20, "b": 10}, height=340, yaxis_tickprefix="$")
    st.plotly_chart(chart, width="stretch", key="earnings_by_month")
    with st.expander("Monthly figures"):
        st.dataframe(
            monthly,
            column_config={"Earned": DOLLARS},
            hide_index=True,
        )

    st.subheader("By service category")
    st.caption("Net, as the months are: what each category's payments brought in and kept.")
    if not categories:
        st.caption("No payments received yet.")
        return
    by_category = pd.DataFrame(
        {
            "Category": [c.label for c in categories],
            "Earned": [c.amount / 100 for c in categories],
            "Payments": [c.count for c in categories],
        }
    )
    st.plotly_chart(
        px.bar(
            by_category,
            x="Earned",
            y="Category",
            orientation="h",
            labels=DOLLAR_AXIS,
            color_discrete_sequence=[BRAND],
        ).update_layout(
            margin={"t": 10, "b": 10}, height=80 + 50 * len(categories), xaxis_tickprefix="$"
        ),
        width="stretch",
        key="earnings_by_category",
    )
    st.dataframe(by_category, column_config={"Earned": DOLLARS}, hide_index=True)


live_section(actor, render)
