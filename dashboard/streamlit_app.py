"""The operations dashboard: `streamlit run dashboard/streamlit_app.py`.

The signed-in role decides which pages exist; every page calls `core`, which enforces
the same scope again in its queries.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # streamlit puts only this folder on the path
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core.identity.permissions import allowed  # noqa: E402
from dashboard.components.auth import (  # noqa: E402
    current_user,
    follow_redirect,
    sign_in_pages,
    sign_out,
)
from dashboard.components.notifications_badge import (  # noqa: E402
    notifications_page_icon,
    notifications_page_title,
)
from dashboard.components.safe_text import md  # noqa: E402

st.set_page_config(page_title="Job to paid", page_icon=":material/payments:", layout="wide")

user = current_user()
follow_redirect()  # after a sign-in or sign-out: to the cookie route
if user is None:
    page = st.navigation(sign_in_pages())
else:
    role = user.actor.role
    pages: list[st.Page] = []
    if role == "provider":
        pages += [
            st.Page("app_pages/provider_home.py", title="Home", icon=":material/home:"),
            st.Page("app_pages/my_jobs.py", title="My jobs", icon=":material/handyman:"),
            st.Page("app_pages/earnings.py", title="Earnings", icon=":material/payments:"),
            st.Page(
                "app_pages/notifications.py",
                title=notifications_page_title(user.actor),
                icon=notifications_page_icon(user.actor),
            ),
        ]
    # The overview comes first for the roles that read the marketplace's figures.
    if allowed(user.actor, "reports.read"):
        pages.append(
            st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:")
        )
    # Each page is listed for the roles the permissions table lets do its work.
    if allowed(user.actor, "jobs.manage"):
        pages.append(st.Page("app_pages/all_jobs.py", title="All jobs", icon=":material/work:"))
    if allowed(user.actor, "webhooks.read"):
        pages.append(
            st.Page(
                "app_pages/webhook_activity.py",
                title="Webhook activity",
                icon=":material/monitor_heart:",
            )
        )
    if allowed(user.actor, "reconcile"):
        pages.append(
            st.Page(
                "app_pages/reconciliation.py", title="Reconciliation", icon=":material/balance:"
            )
        )
    if allowed(user.actor, "reports.read"):
        pages.append(st.Page("app_pages/reports.py", title="Reports", icon=":material/summarize:"))
    if allowed(user.actor, "outbox.manage"):
        pages.append(st.Page("app_pages/outbox.py", title="Outbox", icon=":material/outbox:"))
    if allowed(user.actor, "emails.preview"):
        pages.append(
            st.Page("app_pages/email_preview.py", title="E-mail previews", icon=":material/mail:")
        )
    if allowed(user.actor, "outbox.manage") and os.environ.get("MAIL_CATCHER_DIR", "").strip():
        pages.append(  # a local run's caught mail (make run sets the folder)
            st.Page("app_pages/mail_caught.py", title="Mail caught", icon=":material/inbox:")
        )
    page = st.navigation(pages)
    with st.sidebar:
        st.caption(f"Signed in as **{md(user.display_name)}** ({role})")
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            sign_out()
            st.rerun()

page.run()
