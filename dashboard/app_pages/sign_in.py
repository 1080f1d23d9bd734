"""Sign in with e-mail and password, or single sign-on when it is configured.

A sign-in lands on the page (and query) the person first asked for: `asked_for` keeps it
from this tab's first run, and the cookie route redirects there.
"""

from __future__ import annotations

import streamlit as st

from core.errors import AppError
from core.identity.accounts import sign_in, sign_in_by_email
from dashboard.components.auth import asked_for, remember, sso_configured, sso_role_map
from dashboard.components.runtime import context, db_session
from dashboard.components.safe_text import md

asked_for()  # before any rerun, while the address is still the one asked for

st.title("Job to paid")
st.caption("Jobs, invoices and payments for the marketplace's providers, admins and finance.")

if sso_configured() and getattr(st.user, "is_logged_in", False):
    try:
        with db_session() as session:
            user = sign_in_by_email(session, email=str(st.user.email), role_map=sso_role_map())
        remember(user)
        st.rerun()
    except AppError as refused:  # SignInRefused, or SessionRefused for a disabled account
        st.error(md(refused.message))

with st.form("sign_in", clear_on_submit=False):
    email = st.text_input("E-mail", key="sign_in_email", autocomplete="username")
    password = st.text_input(
        "Password", type="password", key="sign_in_password", autocomplete="current-password"
    )
    submitted = st.form_submit_button("Sign in", type="primary", width="stretch")

if submitted:
    try:
        remember(sign_in(context().sessions, username=email, password=password))
    except AppError as refused:
        st.error(md(refused.message))
    else:
        st.rerun()

if sso_configured():
    st.divider()
    if st.button("Sign in with single sign-on", icon=":material/key:"):
        st.login()
