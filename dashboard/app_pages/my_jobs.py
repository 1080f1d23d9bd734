"""A provider's jobs: status, invoices, and the actions that move them on."""

from __future__ import annotations

import streamlit as st

from dashboard.components.auth import current_user
from dashboard.components.job_browser import job_browser
from dashboard.components.live import watch

user = current_user()
if user is None or user.actor.role != "provider":
    st.stop()
st.title("My jobs")
watch(user.actor)  # toasts and the unread badge; the table runs again when a job is paid
job_browser(user.actor, for_admin=False)
