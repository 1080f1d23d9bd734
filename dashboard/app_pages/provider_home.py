"""A provider's home: this month's payments received, what customers still owe, what is
overdue, money that moved back (once any has), the latest payments and the months before;
each figure opens its list. "Received" is before refunds, as on the Earnings page, whose
balance is net of them; the money-back tile says what came off."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.identity.actor import Actor
from core.reporting import earnings
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import money, when
from dashboard.components.home_tiles import collected_chart, count_of, link, month_so_far, tile
from dashboard.components.live import live_section
from dashboard.components.runtime import READ_TTL_SECONDS, read_session
from dashboard.components.safe_text import md

MY_JOBS = "app_pages/my_jobs.py"
EARNINGS = "app_pages/earnings.py"

user = current_user()
if user is None or user.actor.role != "provider" or user.actor.id is None:
    st.stop()
actor, provider_id = user.actor, user.actor.id
st.title("Home")


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=200, show_spinner=False)
def money_back_of(actor: Actor, provider_id: int) -> earnings.MoneyBack:
    with read_session() as session:
        return earnings.money_back(session, provider_id=provider_id, actor=actor)


def money_back_tile(back: earnings.MoneyBack) -> None:
    """Refunds this month and money held in open disputes, beside what was earned."""
    st.metric(
        "Refunded this month",
        money(back.refunded_this_month),
        help="Refunds dated this month: they come off your earnings",
    )
    # Money as text: a "$" pair would otherwise be read as mathematics.
    st.caption(
        md(
            f"Held in open disputes: {money(back.held)} · lost to disputes: "
            f"{money(back.dispute_lost)} · refunded in all: {money(back.refunded)}"
        )
    )
    link(EARNINGS, "Earnings")
    if back.held:
        link(MY_JOBS, "Disputed jobs", invoice="disputed")


def render() -> None:
    home = reads.provider_home(actor, provider_id)
    back = money_back_of(actor, provider_id)
    this, last, so_far = home.this_month, home.last_month, home.last_month_so_far
    columns = st.columns(4 if back.any else 3)
    earned, awaiting, overdue = columns[:3]
    with tile(earned):
        month_so_far("Received this month", this, last, so_far)
        link(EARNINGS, "Earnings")
    with tile(awaiting):
        st.metric(
            "Awaiting payment",
            money(home.awaiting_payment.amount),
            help="Completed jobs the customer has not paid yet",
        )
        st.caption(count_of(home.awaiting_payment.count, "job"))
        link(MY_JOBS, "Completed jobs", status="completed")
    with tile(overdue):
        st.metric("Overdue", money(home.overdue.amount), help="Invoices open past their due date")
        st.caption(count_of(home.overdue.count, "invoice"))
        # Overdue invoices are among the completed jobs; the list narrows to them where it
        # offers the overdue filter.
        link(MY_JOBS, "Overdue invoices", status="completed", overdue="1")
    if back.any:
        with tile(columns[3]):
            money_back_tile(back)

    st.subheader("Recent payments")
    if home.recent_payments:
        st.dataframe(
            pd.DataFrame(
                {
                    "Received": [when(p.received_at, with_time=True) for p in home.recent_payments],
                    "Job #": [p.job_id for p in home.recent_payments],
                    "Customer": [p.customer for p in home.recent_payments],
                    "Service": [p.service for p in home.recent_payments],
                    "Amount": [p.amount / 100 for p in home.recent_payments],
                }
            ),
            column_config={"Amount": st.column_config.NumberColumn(format="$%.2f")},
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No payments received yet.")
    st.subheader("Earned by month")
    collected_chart(home.by_month, key="home_earned", title="Earned")


live_section(actor, render)
