"""The e-mail outbox for admins: how many messages are in each status, which failed and
which still wait, and sending failed ones again (all of them only after a confirmation)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.audit import plural
from core.errors import AppError
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.notify import outbox_admin
from core.notify.outbox_admin import OutboxMessage
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.runtime import data_changed, db_session, read_session
from dashboard.components.safe_text import md

SHOWN = 200  # rows per table; the counts above them are complete
RETRY_ALL_ASKED = "outbox_retry_all_asked"
RESULT = "outbox_result"
STATUS_LABELS = {
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "not_configured": "Waiting for SMTP",
}


def table(messages: list[OutboxMessage]) -> pd.DataFrame:
    """Addresses and errors as cells: plain text, never markup."""
    return pd.DataFrame(
        [
            {
                "Message #": m.id,
                "To": m.to_address,
                "Kind": m.kind.replace("_", " "),
                "Job #": m.job_id,
                "Status": STATUS_LABELS.get(m.status, m.status),
                "Attempts": m.attempts,
                "Last error": m.last_error or "",
                "Next attempt": m.next_attempt_at,
            }
            for m in messages
        ],
        columns=[
            "Message #",
            "To",
            "Kind",
            "Job #",
            "Status",
            "Attempts",
            "Last error",
            "Next attempt",
        ],
    ).astype({"Job #": "Int64"})


COLUMNS = {
    "Next attempt": st.column_config.DatetimeColumn(
        "Next attempt (UTC)", format="YYYY-MM-DD HH:mm:ss"
    ),
    "Attempts": st.column_config.NumberColumn(format="%d"),
}


def retry(actor: Actor, ids: list[int]) -> None:
    try:
        with db_session() as session:
            queued = outbox_admin.retry(session, ids, actor=actor)
    except AppError as error:
        st.session_state[RESULT] = ("error", error.message)
        return
    data_changed()
    left = len(ids) - len(queued)
    text = f"{plural(len(queued), 'message')} queued to be sent again."
    if left:
        text += f" {plural(left, 'message')} had left the failed list already."
    st.session_state[RESULT] = ("success", text)


def failed_section(actor: Actor, failed: list[OutboxMessage], failed_count: int) -> None:
    st.subheader(f"Failed ({failed_count})")
    if not failed:
        st.success("No message failed.")
        return
    st.caption("Select rows (the box at their left) to retry them.")
    picked = st.dataframe(
        table(failed),
        hide_index=True,
        width="stretch",
        column_config=COLUMNS,
        on_select="rerun",
        selection_mode="multi-row",
        key="outbox_failed",
    )
    # A selection can outlive the rows it named (they were retried since): keep what exists.
    chosen = [failed[i].id for i in picked.selection.rows if i < len(failed)]
    left, right = st.columns(2)
    if left.button(
        f"Retry {plural(len(chosen), 'message')}" if chosen else "Retry the chosen messages",
        disabled=not chosen,
        key="outbox_retry_chosen",
        icon=":material/refresh:",
    ):
        retry(actor, chosen)
        st.session_state.pop("outbox_failed", None)  # the rows it named are gone from the table
        st.rerun()
    if right.button("Retry all failed", key="outbox_retry_all", icon=":material/replay:"):
        st.session_state[RETRY_ALL_ASKED] = True
    if st.session_state.get(RETRY_ALL_ASKED):
        # Each retried message is an e-mail to a customer or provider: say how many, and ask.
        with read_session() as session:
            every = outbox_admin.failed_ids(session, actor=actor)
        right.warning(
            f"This queues {plural(len(every), 'failed message')} to be sent again, each to "
            "its recipient, on the delivery worker's next pass."
        )
        yes, no = right.columns(2)
        if yes.button(
            f"Yes, retry {plural(len(every), 'message')}", type="primary", key="outbox_retry_yes"
        ):
            st.session_state.pop(RETRY_ALL_ASKED)
            retry(actor, every)
            st.rerun()
        if no.button("Not now", key="outbox_retry_no"):
            st.session_state.pop(RETRY_ALL_ASKED)
            st.rerun()


user = current_user()
if user is None or not allowed(user.actor, "outbox.manage"):
    st.stop()
st.title("Outbox")
view = reads.outbox_view(user.actor, SHOWN)

for column, (status, label) in zip(
    st.columns(len(STATUS_LABELS)), STATUS_LABELS.items(), strict=True
):
    column.metric(label, f"{view.counts.get(status, 0):,}")

outcome = st.session_state.pop(RESULT, None)
if outcome is not None:
    kind, text = outcome
    (st.success if kind == "success" else st.error)(md(text))

failed_section(user.actor, view.failed, view.counts.get("failed", 0))

pending_count = sum(view.counts.get(s, 0) for s in outbox_admin.PENDING_STATUSES)
st.subheader(f"Waiting to be sent ({pending_count})")
if view.pending:
    st.dataframe(table(view.pending), hide_index=True, width="stretch", column_config=COLUMNS)
else:
    st.caption("Nothing waits to be sent.")
