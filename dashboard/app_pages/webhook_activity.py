"""Webhook activity for admins: is Stripe reaching us, and what needs a person."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.identity.permissions import allowed
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import ago, when

user = current_user()
if user is None or not allowed(user.actor, "webhooks.read"):
    st.stop()
st.title("Webhook activity")
overview = reads.webhook_overview(user.actor)

a, b = st.columns(2)
a.metric("Last event received", when(overview.last_received_at, with_time=True))
b.metric("How long ago", ago(overview.seconds_since_last))

st.subheader("Last 24 hours, by type and outcome")
counts = overview.by_type_and_outcome
if counts:
    st.dataframe(
        pd.DataFrame(counts, columns=["Type", "Outcome", "Events"]),
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
    st.dataframe(pd.DataFrame(problems), hide_index=True, width="stretch")
else:
    st.success("No event needs attention.")
