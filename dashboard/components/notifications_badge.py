"""The unread count shown in the navigation, and the count the navigation last showed, so
the live watcher (dashboard.components.live) knows when the menu must be drawn again."""

from __future__ import annotations

import streamlit as st

from core.identity.actor import Actor
from core.notify import notifications
from dashboard.components.runtime import READ_TTL_SECONDS, read_session

_SHOWN_KEY = "nav_unread_shown"


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=1000)
def unread_for(actor: Actor) -> int:
    if actor.role != "provider" or actor.id is None:
        return 0
    with read_session() as session:
        return notifications.unread_count(session, recipient_kind="provider", recipient_id=actor.id)


def notifications_page_title(actor: Actor) -> str:
    """The menu entry's title, with the unread count when there is one; remembered as shown."""
    unread = unread_for(actor)
    st.session_state[_SHOWN_KEY] = unread
    return f"Notifications ({unread})" if unread else "Notifications"


def notifications_page_icon(actor: Actor) -> str:
    unread = st.session_state.get(_SHOWN_KEY)
    return ":material/notifications_unread:" if unread else ":material/notifications:"


def shown_unread() -> int | None:
    """The count the navigation shows now (None before it was drawn)."""
    value = st.session_state.get(_SHOWN_KEY)
    return value if isinstance(value, int) else None


def forget_unread(actor: Actor) -> None:
    """Drop the cached count, so the next navigation reads it afresh."""
    unread_for.clear(actor)
