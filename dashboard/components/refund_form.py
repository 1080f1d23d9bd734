"""An admin's refund of a paid job, in its drawer: "Refund…" opens a form with the amount
(all that is left by default), a required reason and a live preview (what goes back to the
customer, the provider's earnings now and after, refunded in full or in part), then one
confirm. A paid job that cannot be refunded (paid by hand, disputed, refunded in full) says
why in place of the button.

The preview reads our records only, so it follows every change of the amount without
calling Stripe; the refund itself is core.billing.refund_action.refund_job, which Stripe
may still refuse (told here in its words). The form remembers what was already refunded
when it opened, and sends it with the refund, so a second click of the same request finds
the refund the first made instead of refunding again.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.billing.refund_action import MAX_REASON, RefundPreview, preview_refund, refund_job
from core.errors import AppError
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.jobs.queries import JobRow
from core.money import format_cents, parse_cents
from dashboard.components.runtime import context, data_changed
from dashboard.components.safe_text import md

RESULT_KEY = "refund_result"


def _keys(job_id: int) -> dict[str, str]:
    return {name: f"refund_{name}_{job_id}" for name in ("open", "seen", "amount", "reason", "yes")}


def can_refund(actor: Actor, row: JobRow) -> bool:
    return allowed(actor, "refund") and row.job_status == "paid"


def _open(job_id: int) -> None:
    keys = _keys(job_id)
    st.session_state[keys["open"]] = True
    for name in ("seen", "amount", "reason"):
        st.session_state.pop(keys[name], None)


def _close(job_id: int) -> None:
    keys = _keys(job_id)
    for name in ("open", "seen", "amount", "reason"):
        st.session_state.pop(keys[name], None)


def _refund(actor: Actor, job_id: int, amount: int) -> None:
    keys = _keys(job_id)
    reason = str(st.session_state.get(keys["reason"]) or "")
    try:
        result = refund_job(
            context(),
            job_id,
            actor=actor,
            amount=amount,
            reason=reason,
            refunded_before=st.session_state.get(keys["seen"]),
        )
    except AppError as error:
        st.session_state[RESULT_KEY] = (job_id, "error", error.message)
        return
    finally:
        data_changed()
    _close(job_id)
    st.session_state[RESULT_KEY] = (
        job_id,
        "success" if result.applied else "error",
        result.message,
    )


def _last_result(job_id: int) -> None:
    result = st.session_state.get(RESULT_KEY)
    if result and result[0] == job_id:
        st.session_state.pop(RESULT_KEY)
        # Our sentences carry Stripe's words and ids: shown as text.
        (st.success if result[1] == "success" else st.error)(md(result[2]))


def refund_section(actor: Actor, row: JobRow) -> None:
    """The refund of a paid job, for admins; nothing for anyone else."""
    if not can_refund(actor, row):
        return
    job_id = row.job_id
    keys = _keys(job_id)
    _last_result(job_id)
    try:
        whole = preview_refund(context(), job_id, actor=actor)
    except AppError as error:
        # Paid by hand, disputed, refunded in full: why there is no refund, before a click.
        _close(job_id)
        st.caption(f":material/block: No refund: {md(error.message)}")
        return
    if not st.session_state.get(keys["open"]):
        st.button(
            "Refund…",
            key=f"refund_{job_id}",
            icon=":material/undo:",
            on_click=_open,
            args=(job_id,),
        )
        return
    if keys["seen"] not in st.session_state:
        st.session_state[keys["seen"]] = whole.already_refunded
        st.session_state[keys["amount"]] = f"{whole.left_to_refund / 100:.2f}"
    _form(actor, job_id, whole)


def _form(actor: Actor, job_id: int, whole: RefundPreview) -> None:
    keys = _keys(job_id)
    money = _money(whole.currency)
    st.markdown(
        f"**Refund job #{job_id}** to {md(whole.customer)}: {money(whole.paid)} paid, "
        f"{money(whole.already_refunded)} already refunded, {money(whole.left_to_refund)} "
        "left to refund."
    )
    st.text_input(
        "Amount to refund, in dollars",
        key=keys["amount"],
        help=f"Up to {money(whole.left_to_refund)}",
    )
    preview = _preview(actor, job_id, str(st.session_state.get(keys["amount"]) or ""))
    st.text_input(
        "Reason (kept in the audit log and shown on the credit note)",
        key=keys["reason"],
        max_chars=MAX_REASON,
        placeholder="Arrived two hours late",
    )
    reason = str(st.session_state.get(keys["reason"]) or "")
    yes, no = st.columns(2)
    yes.button(
        f"Refund {money(preview.amount)}" if preview else "Refund",
        key=keys["yes"],
        type="primary",
        disabled=preview is None or not reason.strip(),
        on_click=_refund,
        args=(actor, job_id, preview.amount if preview else 0),
    )
    no.button("Do not refund", key=f"refund_no_{job_id}", on_click=_close, args=(job_id,))


def _preview(actor: Actor, job_id: int, amount_text: str) -> RefundPreview | None:
    """The live preview of the amount typed, or why it cannot be refunded (None)."""
    try:
        preview = preview_refund(context(), job_id, actor=actor, amount=parse_cents(amount_text))
    except AppError as error:
        st.error(md(error.message))
        return None
    money = _money(preview.currency)
    whole = "refunded in full" if preview.refunded_in_full else "partly refunded"
    st.markdown(
        f"Back to the customer: **{money(preview.amount)}**  \n"
        f"Provider earnings: {money(preview.provider_earnings)} → "
        f"{money(preview.provider_earnings_after)}  \n"
        f"After this refund the job is {whole}."
    )
    return preview


def _money(currency: str) -> Callable[[int], str]:
    """Cents as markdown-safe text (a bare `$` pair would be read as mathematics)."""
    return lambda cents: md(format_cents(cents, currency))
