"""Sign in with e-mail and password, or single sign-on when it is configured."""

from __future__ import annotations

import streamlit as st

from core.identity.accounts import SignInRefused, sign_in, sign_in_by_email
from dashboard.components.auth import remember, sso_configured, sso_role_map
from dashboard.components.runtime import context, db_session
from dashboard.components.safe_text import md

st.title("💸 Job to paid")
st.caption("Jobs, invoices and payments for the marketplace's providers, admins and finance.")

if sso_configured() and getattr(st.user, "is_logged_in", False):
    try:
        with db_session() as session:
            user = sign_in_by_email(session, email=str(st.user.email), role_map=sso_role_map())
        remember(user)
        st.rerun()
    except SignInRefused as refused:
        st.error(md(refused.message))

with st.form("sign_in", clear_on_submit=False):
    email = st.text_input("E-mail", key="sign_in_email", autocomplete="username")
    password = st.text_input(
        "Password", type="password", key="sign_in_password", autocomplete="current-password"
    )
    submitted = st.form_submit_button("Sign in", type="primary", width="stretch")

if submitted:
    try:
        user = sign_in(context().sessions, username=email, password=password)
    except SignInRefused as refused:
        st.error(md(refused.message))
    else:
        remember(user)
        st.rerun()

if sso_configured():
    st.divider()
    if st.button("Sign in with single sign-on", icon=":material/key:"):
        st.login()
