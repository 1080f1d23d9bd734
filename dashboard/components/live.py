"""Keeping an open page current: what just happened, told in a toast, and fresh figures.

Every LIVE_SECONDS the browser asks for a fragment run (`st.fragment(run_every=...)`:
Streamlit's front end keeps a timer per fragment while the page shows it, and stops it
when the page is left). Each run reads what happened in the last few minutes straight
from core (not from the cached reads, whose ttl is longer than the interval), toasts what
is new to this person, and forgets the cached reads when something moved money. Only when
the navigation must change (the unread count in the menu moved) does the whole app run
again; otherwise only the fragment is redrawn.

Pages call one of:
- `live_section(actor, render)`: `render` draws the page's figures inside the fragment, so
  they are redrawn on every run (the home pages);
- `watch(actor)`: toasts and the badge only; when something the page shows changed, the
  whole page runs again (pages whose widgets must stay outside a fragment, the job lists).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import streamlit as st

from core.db.models import utcnow
from core.identity.actor import Actor
from core.reporting import live_feed
from dashboard.components.formatting import money
from dashboard.components.notifications_badge import forget_unread, shown_unread
from dashboard.components.runtime import data_changed, read_session
from dashboard.components.safe_text import md

LIVE_SECONDS = 5
# Each run looks this far back, so an event committed a little after it was stamped is
# still seen; keys already told are skipped.
LOOKBACK = timedelta(minutes=2)
MOST_TOASTS = 3  # at once; more are summed up in one

_SEEN_KEY = "live_seen"
_PENDING_KEY = "live_pending_toasts"

_ICONS = {
    "paid": ":material/paid:",
    "payment_failed": ":material/credit_card_off:",
    "webhook_problem": ":material/report:",
    "invoicing_failed": ":material/error:",
    "refund": ":material/undo:",
    "dispute_opened": ":material/gavel:",
    "dispute_won": ":material/gavel:",
    "dispute_lost": ":material/gavel:",
    "dispute_needs_response": ":material/gavel:",
}


def toast_text(item: live_feed.FeedItem) -> str:
    """What a toast says about one item, as plain text (`_show` escapes it for markdown)."""
    job = f"job #{item.job_id}" if item.job_id is not None else "an unknown job"
    if item.kind == "paid":
        amount = f"{money(item.amount)} " if item.amount is not None else ""
        return f"Payment received: {amount}for {job}"
    if item.kind == "payment_failed":
        return f"A payment failed for {job}"
    amount = money(item.amount) if item.amount is not None else "the amount"
    if item.kind == "refund":
        return f"Refund on {job}: {amount} back to the customer"
    if item.kind == "dispute_opened":
        return f"Payment disputed on {job}: {amount} held until the bank decides"
    if item.kind == "dispute_won":
        return f"Dispute won on {job}: {amount} released"
    if item.kind == "dispute_lost":
        return f"Dispute lost on {job}: {amount} taken off your earnings"
    if item.kind == "dispute_needs_response":
        by = f" by {item.due:%B} {item.due.day}" if item.due is not None else ""
        return f"Payment disputed on {job} ({amount}): it needs an answer{by}"
    detail = f": {item.detail}" if item.detail else ""
    if item.kind == "invoicing_failed":
        return f"Invoicing {job} failed{detail}"
    return f"A webhook event for {job} needs attention{detail}"


def _toasts(items: list[live_feed.FeedItem]) -> list[tuple[str, str]]:
    told = [(toast_text(item), _ICONS[item.kind]) for item in items[-MOST_TOASTS:]]
    if len(items) > MOST_TOASTS:
        told.insert(0, (f"{len(items) - MOST_TOASTS} more updates", ":material/update:"))
    return told


def _show(toasts: list[tuple[str, str]]) -> None:
    for text, icon in toasts:
        st.toast(md(text), icon=icon)


def _check(actor: Actor, *, rerun_on_news: bool) -> None:
    """Read what happened, toast what is new, and rerun the app when the page needs it."""
    _show(st.session_state.pop(_PENDING_KEY, []))
    with read_session() as session:
        feed = live_feed.recent(session, actor=actor, since=utcnow() - LOOKBACK)
    keys = {item.key for item in feed.items}
    seen = st.session_state.get(_SEEN_KEY)
    st.session_state[_SEEN_KEY] = keys
    news = [] if seen is None else [item for item in feed.items if item.key not in seen]
    if news:
        data_changed()  # the cached reads predate what just happened
    shown = shown_unread()  # None when no navigation drew it (a page run on its own)
    badge_moved = None not in (feed.unread, shown) and feed.unread != shown
    if badge_moved:
        forget_unread(actor)
    if badge_moved or (news and rerun_on_news):
        st.session_state[_PENDING_KEY] = _toasts(news)  # a rerun would drop them unshown
        st.rerun()
    _show(_toasts(news))


@st.fragment(run_every=LIVE_SECONDS)
def _live_section(actor: Actor, render: Callable[[], None]) -> None:
    _check(actor, rerun_on_news=False)
    render()


@st.fragment(run_every=LIVE_SECONDS)
def _watch(actor: Actor) -> None:
    _check(actor, rerun_on_news=True)


def live_section(actor: Actor, render: Callable[[], None]) -> None:
    """Draw `render` now and again every LIVE_SECONDS, with the toasts and the badge."""
    _live_section(actor, render)


def watch(actor: Actor) -> None:
    """The toasts and the badge for a page that draws itself outside a fragment."""
    _watch(actor)
