"""E-mail previews for admins: each kind's subject, plain text and HTML, with sample facts.

The HTML is shown inside an iframe loaded from a `data:` URL, which browsers give an
origin of its own, so nothing in an e-mail can reach this page; its source is shown as
text beside it.
"""

from __future__ import annotations

import base64
from dataclasses import replace

import streamlit as st

from core.identity.permissions import allowed
from core.notify.email_preview import KIND_TITLES, preview, sample_for
from core.notify.emails import KINDS
from core.notify.money_back_facts import REFUND_KINDS
from dashboard.components.auth import current_user

user = current_user()
if user is None or not allowed(user.actor, "emails.preview"):
    st.stop()
st.title("E-mail previews")
st.caption(
    "What customers and providers receive, rendered from the same templates as the real "
    "messages, with made-up facts. Real messages read the job and its current invoice "
    "when they are sent."
)

kind = st.selectbox(
    "Kind of e-mail", KINDS, format_func=lambda k: KIND_TITLES[k], key="email_preview_kind"
)
with_markup = st.toggle(
    "Fill the written fields with markup",
    key="email_preview_markup",
    help="Names, descriptions and reasons full of HTML and markdown, to see them kept as text.",
)
sample = sample_for(kind, with_markup=with_markup)
if kind == "reminder":
    days = st.number_input(
        "Days from the due date (negative: before it)",
        min_value=-30,
        max_value=90,
        value=3,
        step=1,
        key="email_preview_days",
    )
    sample = replace(sample, days=int(days))
if kind in REFUND_KINDS and st.toggle(
    "The refund takes the whole payment back",
    key="email_preview_whole_refund",
    help="The sample is a partial refund; this shows the e-mail of one that leaves nothing paid.",
):
    sample = replace(sample, amount=sample.paid or sample.amount, still_paid=0)
email = preview(user.actor, kind, sample)

st.subheader("Subject")
st.text(email.subject)
html_tab, text_tab, source_tab = st.tabs(["HTML", "Plain text", "HTML source"])
with html_tab:
    encoded = base64.b64encode(email.html.encode()).decode()
    st.iframe(
        f"data:text/html;charset=utf-8;base64,{encoded}",
        height=720,
        alt="The e-mail's HTML body",
    )
with text_tab:
    st.code(email.text, language=None, wrap_lines=True)
with source_tab:
    st.code(email.html, language="html", wrap_lines=True)
