"""Who is signed in. The session keeps only an account id with an HMAC over it; the role
and provider binding are read from the database on every run, so nothing in the page
state can turn one provider into another."""

from __future__ import annotations

import hashlib
import hmac

import streamlit as st

from core.identity.accounts import SignedIn, signed_in_account
from dashboard.components.runtime import read_session, settings

SESSION_KEY = "auth"


def _signature(account_id: int) -> str:
    secret = settings().app_secret_key.get_secret_value().encode()
    return hmac.new(secret, f"account:{account_id}".encode(), hashlib.sha256).hexdigest()


def remember(user: SignedIn) -> None:
    st.session_state[SESSION_KEY] = {
        "account_id": user.account_id,
        "signature": _signature(user.account_id),
    }


def forget() -> None:
    st.session_state.pop(SESSION_KEY, None)


def current_user() -> SignedIn | None:
    stored = st.session_state.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return None
    account_id = stored.get("account_id")
    if not isinstance(account_id, int) or not hmac.compare_digest(
        str(stored.get("signature", "")), _signature(account_id)
    ):
        forget()
        return None
    with read_session() as session:
        user = signed_in_account(session, account_id)
    if user is None:
        forget()
    return user


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
