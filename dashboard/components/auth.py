"""Who is signed in, and signing in and out.

A sign-in lives in two places. The browser holds an HttpOnly session cookie, set by the
`/session/start` route (dashboard/session_routes.py), that names a server-side session
record (core.identity.dashboard_sessions), so a reload, a new tab or a shared link stays
signed in. This tab's session state holds the account id, role and provider with an HMAC
over them, for the moment between the password check and the browser coming back with its
cookie (and for AppTest, which has no cookies). Either way the account is read from the
database on every run and refused once it is disabled or its role or provider changed since
the sign-in, so nothing in the page state can turn one provider into another.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import streamlit as st

from core.identity.accounts import SignedIn
from core.identity.dashboard_sessions import (
    end_session,
    issue_ticket,
    signed_in_as_issued,
    signed_in_by_cookie,
)
from dashboard.components.runtime import context, db_session, read_session, settings
from dashboard.components.session_cookie import COOKIE_NAME, END_PATH, HOME, start_url

SESSION_KEY = "auth"
NEXT_KEY = "auth_next"  # the page (and query) the person asked for before signing in
REDIRECT_KEY = "auth_redirect"  # where the browser is to go next: (method, url)
SIGN_IN_PAGE = "app_pages/sign_in.py"
_PAGE_PATH = re.compile(r"[A-Za-z0-9_-]+")  # what st.Page accepts as a url_path


def _issued_as(user: SignedIn) -> tuple[str, int | None]:
    role = user.actor.role
    return role, user.actor.id if role == "provider" else None


def _signature(account_id: int, role: str, provider_id: int | None) -> str:
    secret = settings().app_secret_key.get_secret_value().encode()
    message = f"account:{account_id}:{role}:{provider_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def asked_for() -> str:
    """The path and query of the page this tab first asked for (a sign-in keeps them)."""
    if NEXT_KEY not in st.session_state:
        url = st.context.url
        path = urlsplit(url).path if url else HOME
        pairs = [(key, value) for key in st.query_params for value in st.query_params.get_all(key)]
        st.session_state[NEXT_KEY] = path + (f"?{urlencode(pairs)}" if pairs else "")
    return str(st.session_state[NEXT_KEY])


def sign_in_pages() -> list[st.Page]:
    """The sign-in page, and the same page (hidden) under the address asked for, so a
    signed-out deep link shows the form at its own address rather than "page not found"."""
    pages = [st.Page(SIGN_IN_PAGE, title="Sign in", icon=":material/login:", default=True)]
    asked = urlsplit(asked_for()).path.strip("/")
    if _PAGE_PATH.fullmatch(asked) and asked != "sign_in":
        pages.append(st.Page(SIGN_IN_PAGE, title="Sign in", url_path=asked, visibility="hidden"))
    return pages


def remember(user: SignedIn) -> None:
    """Sign `user` in: this tab at once, and the browser once it has traded the ticket for
    its cookie. Raises SessionRefused for a disabled account."""
    with db_session() as session:
        ticket = issue_ticket(session, user)
    role, provider_id = _issued_as(user)
    st.session_state[SESSION_KEY] = {
        "account_id": user.account_id,
        "role": role,
        "provider_id": provider_id,
        "signature": _signature(user.account_id, role, provider_id),
    }
    st.session_state[REDIRECT_KEY] = ("get", start_url(ticket, asked_for()))


def forget() -> None:
    st.session_state.pop(SESSION_KEY, None)


def sign_out() -> None:
    """End the cookie's session and this tab's sign-in; the browser then clears the cookie
    (single sign-on: Streamlit's own sign-out instead, the session being revoked already)."""
    cookie = st.context.cookies.get(COOKIE_NAME)
    if cookie:
        with db_session() as session:
            end_session(session, settings(), cookie)
    forget()
    st.session_state.pop(NEXT_KEY, None)
    if getattr(st.user, "is_logged_in", False):
        st.logout()
    else:
        st.session_state[REDIRECT_KEY] = ("post", END_PATH)


def follow_redirect() -> None:
    """Send the browser where signing in or out left it to go, once."""
    pending = st.session_state.pop(REDIRECT_KEY, None)
    if pending is None:
        return
    method, url = pending
    # json.dumps quotes the URL for JavaScript; "<" is escaped so it cannot close the tag.
    target = json.dumps(str(url)).replace("<", "\\u003c")
    if method == "post":
        script = (
            "const form = document.createElement('form');"
            f"form.method = 'post'; form.action = {target};"
            "document.body.appendChild(form); form.submit();"
        )
    else:
        script = f"window.location.replace({target});"
    st.html(f"<script>{script}</script>", width="content", unsafe_allow_javascript=True)


def _from_session_state(stored: Any) -> SignedIn | None:
    if not isinstance(stored, dict):
        return None
    account_id, role, provider_id = (stored.get(k) for k in ("account_id", "role", "provider_id"))
    if not isinstance(account_id, int) or not isinstance(role, str):
        return None
    if provider_id is not None and not isinstance(provider_id, int):
        return None
    if not hmac.compare_digest(
        str(stored.get("signature", "")), _signature(account_id, role, provider_id)
    ):
        return None
    with read_session() as session:
        return signed_in_as_issued(session, account_id, role, provider_id)


def current_user() -> SignedIn | None:
    stored = st.session_state.get(SESSION_KEY)
    if stored is not None:
        user = _from_session_state(stored)
        if user is not None:
            return user
        forget()
    cookie = st.context.cookies.get(COOKIE_NAME)
    if not cookie:
        return None
    app = context()
    return signed_in_by_cookie(app.readers, app.sessions, settings(), cookie)


def sso_configured() -> bool:
    """True when `.streamlit/secrets.toml` has an [auth] section for st.login."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all
        return False


def sso_role_map() -> dict[str, str]:
    try:
        roles = st.secrets.get("dashboard", {}).get("roles", {})
    except Exception:
        return {}
    return {str(email): str(role) for email, role in dict(roles).items()}
