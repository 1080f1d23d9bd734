"""A provider's home: this month's earnings, what customers still owe, what is overdue,
the latest payments and the months before; each figure opens its list."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import money, when
from dashboard.components.home_tiles import collected_chart, count_of, link, month_so_far, tile
from dashboard.components.live import live_section

MY_JOBS = "app_pages/my_jobs.py"
EARNINGS = "app_pages/earnings.py"

user = current_user()
if user is None or user.actor.role != "provider" or user.actor.id is None:
    st.stop()
actor, provider_id = user.actor, user.actor.id
st.title("Home")


def render() -> None:
    home = reads.provider_home(actor, provider_id)
    this, last, so_far = home.this_month, home.last_month, home.last_month_so_far
    earned, awaiting, overdue = st.columns(3)
    with tile(earned):
        month_so_far("Earned this month", this, last, so_far)
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
