"""Mail caught: the e-mails of this `make run`, as its mail catcher kept them.

Shown only when the run has a catcher (MAIL_CATCHER_DIR). Every field is text someone
else wrote, so it is shown in dataframe cells and `st.text`, never as markdown.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from core.identity.permissions import allowed
from dashboard.components.auth import current_user
from dashboard.components.safe_text import md
from mailcatcher.folder import NEWEST, caught_messages

FOLDER_VARIABLE = "MAIL_CATCHER_DIR"

user = current_user()
folder_text = os.environ.get(FOLDER_VARIABLE, "").strip()
if user is None or not allowed(user.actor, "outbox.manage") or not folder_text:
    st.stop()
folder = Path(folder_text)
st.title("Mail caught")
st.caption(
    "Every e-mail this run sent, ours and the sandbox's (as Stripe sends them in live mode), "
    f"kept by the local mail catcher as .eml files; none left the machine. The newest {NEWEST} "
    "are listed."
)
st.text(f"Folder: {folder}")
messages = caught_messages(folder)
if not messages:
    st.info("No e-mail has been caught yet.")
    st.stop()
if st.button("Refresh", icon=":material/refresh:", key="mail_caught_refresh"):
    st.rerun()
table = st.dataframe(
    [{"Date": m.date, "To": m.to, "Subject": m.subject, "From": m.sender} for m in messages],
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="mail_caught_table",
)
rows = table.selection.rows
chosen = messages[rows[0]] if rows else messages[0]
st.subheader("Message")
st.text(f"From: {chosen.sender}\nTo: {chosen.to}\nDate: {chosen.date}\nSubject: {chosen.subject}")
st.text(chosen.text)
st.caption(f"File: {md(chosen.file)}")
