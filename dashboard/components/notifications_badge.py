"""The unread count shown in the navigation."""

from __future__ import annotations

import streamlit as st

from core.identity.actor import Actor
from core.notify import notifications
from dashboard.components.runtime import READ_TTL_SECONDS, read_session


@st.cache_data(ttl=READ_TTL_SECONDS, max_entries=1000)
def unread_for(actor: Actor) -> int:
    if actor.role != "provider" or actor.id is None:
        return 0
    with read_session() as session:
        return notifications.unread_count(session, recipient_kind="provider", recipient_id=actor.id)
