"""A provider's notifications, newest first, with mark-as-read."""

from __future__ import annotations

import streamlit as st

from core.notify import notifications
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import when
from dashboard.components.live import watch
from dashboard.components.runtime import data_changed, db_session
from dashboard.components.safe_text import md

user = current_user()
if user is None or user.actor.role != "provider" or user.actor.id is None:
    st.stop()
provider_id = user.actor.id
# A material icon (no emoji: the browsers we support may have no emoji font).
UNREAD_MARKER = ":blue[:material/fiber_manual_record:] "
st.title("Notifications")
watch(user.actor)
items = reads.notification_list(user.actor)
unread = [item for item in items if not item.read]
st.caption(f"{len(unread)} unread of {len(items)}")


def mark(ids: list[int] | None) -> None:
    with db_session() as session:
        notifications.mark_read(
            session, recipient_kind="provider", recipient_id=provider_id, ids=ids
        )
    data_changed()


if unread and st.button("Mark all as read", key="mark_all_read", icon=":material/done_all:"):
    mark(None)
    st.rerun()

if not items:
    st.info("Nothing yet. You will hear here when customers pay, and of any refund or dispute.")
for item in items:
    with st.container(border=True):
        left, right = st.columns([5, 1])
        marker = "" if item.read else UNREAD_MARKER
        left.markdown(f"**{marker}{md(item.title)}** · {when(item.created_at, with_time=True)}")
        left.text(item.body)
        if not item.read and right.button("Mark read", key=f"read_{item.id}"):
            mark([item.id])
            st.rerun()
