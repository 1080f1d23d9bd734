"""Webhook activity for admins: is Stripe reaching us, and what needs a person."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.billing.outcome_text import describe_outcome
from core.identity.permissions import allowed
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.email_trouble import email_trouble_links
from dashboard.components.formatting import ago, when

user = current_user()
if user is None or not allowed(user.actor, "webhooks.read"):
    st.stop()
st.title("Webhook activity")
overview = reads.webhook_overview(user.actor)

a, b = st.columns(2)
a.metric("Last event received", when(overview.last_received_at, with_time=True))
b.metric("How long ago", ago(overview.seconds_since_last))
if overview.emails is not None:
    st.subheader("E-mail not delivered")
    email_trouble_links(overview.emails)

st.subheader("Last 24 hours, by type and outcome")
counts = overview.by_type_and_outcome
if counts:
    st.dataframe(
        pd.DataFrame(
            [(kind, describe_outcome(outcome), n) for kind, outcome, n in counts],
            columns=["Type", "Outcome", "Events"],
        ),
        hide_index=True,
        width="stretch",
    )
else:
    st.caption("No events in the last 24 hours.")

problems = overview.problems
st.subheader(f"Needs attention ({len(problems)})")
st.caption(
    "Events we refused, could not place or failed to handle. Nothing moved money; "
    "reconciliation lists what to do with each invoice."
)
if problems:
    frame = pd.DataFrame(problems).astype({"Job #": "Int64"})
    frame["Outcome"] = frame["Outcome"].map(describe_outcome)
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "Received": st.column_config.DatetimeColumn(
                "Received (UTC)", format="YYYY-MM-DD HH:mm:ss"
            )
        },
    )
else:
    st.success("No event needs attention.")
