"""The jobs table with its filters, paging and the selected job's detail and actions.

Providers and admins use the same component; what each sees is decided by core from the
signed-in actor, not by the filters here. A click on a row opens that job below the
table; the view (filters, page, page size, open job) lives in the address bar
(dashboard/components/job_links.py), so a copied link opens the same view.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from core.billing.invoice_status import SHOWN_STATUSES
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.jobs.queries import JobFilter, JobPage, JobRow
from dashboard.components import reads
from dashboard.components.formatting import (
    dollars,
    money,
    status_colour,
    status_word,
    when,
)
from dashboard.components.job_actions import (
    SELECT_NEXT_KEY,
    action_buttons,
    last_action_job,
    show_last_result,
)
from dashboard.components.job_links import PARAMS, View, from_params, to_params
from dashboard.components.money_back_section import money_back_section
from dashboard.components.reminder_controls import reminder_section
from dashboard.components.safe_text import md

JOB_STATUSES = ["new", "completed", "paid", "cancelled"]
PAYMENT_STATUSES = ["pending", "received"]
PAGE_SIZES = [10, 25, 50, 100]

TABLE_KEY = "jobs_table"  # the table's row selection
SELECTED_KEY = "selected_job"  # the id of the job whose detail is open
PAGE_KEY = "filter_page"
SIZE_KEY = "page_size"
DRAWN_KEY = "jobs_table_drawn"  # the ids and selection of the table as last drawn
SHOWN_VIEW_KEY = "jobs_view_shown"  # the filters, size and page last shown
LINK_KEY = "jobs_link_written"  # the query string last written


# ---------------------------------------------------------------------------------------
# The view in the address bar


def _link_now() -> dict[str, list[str]]:
    return {name: st.query_params.get_all(name) for name in PARAMS if name in st.query_params}


def _open_link(for_admin: bool, provider_ids: list[int]) -> None:
    """Set the filters, page and open job from the address, when it is not the one this
    page wrote last (a link just opened): before the widgets exist, so they show it."""
    link = _link_now()
    if st.session_state.get(LINK_KEY) == link:
        return
    view, problems = from_params(
        link,
        statuses=JOB_STATUSES,
        provider_ids=provider_ids if for_admin else None,
        page_sizes=PAGE_SIZES,
    )
    state = st.session_state
    state["filter_status"] = list(view.statuses)
    state["filter_invoice"] = list(view.invoice_statuses)
    state["filter_search"] = view.search
    if view.created_from is not None:
        state["filter_dates"] = (view.created_from, view.created_to or view.created_from)
    else:
        state["filter_dates"] = ()
    if for_admin:
        state["filter_provider"] = view.provider_id
    state["filter_overdue"] = view.overdue
    state[SIZE_KEY] = view.page_size
    state[PAGE_KEY] = view.page
    state[SELECTED_KEY] = view.job_id
    state.pop(SHOWN_VIEW_KEY, None)  # what the link asks for is shown as it is
    state["jobs_link_job"] = view.job_id  # to be found on its page, once
    if problems:
        # The address is the reader's own text: shown as text.
        st.warning(md("Part of this link could not be used: " + ", ".join(problems) + "."))


def _write_link(view: View) -> None:
    wanted = to_params(view)
    for name in PARAMS:
        values = wanted.get(name)
        if values and st.query_params.get_all(name) != values:
            st.query_params[name] = values if len(values) > 1 else values[0]
        elif not values and name in st.query_params:
            del st.query_params[name]
    st.session_state[LINK_KEY] = wanted


# ---------------------------------------------------------------------------------------
# Filters and paging


def filters(actor: Actor, *, for_admin: bool) -> JobFilter:
    cols = st.columns([2, 2, 2, 2, 2] if for_admin else [2, 2, 2, 2])
    statuses = cols[0].multiselect("Job status", JOB_STATUSES, key="filter_status")
    invoice_statuses = cols[1].multiselect(
        "Invoice", SHOWN_STATUSES, format_func=status_word, key="filter_invoice"
    )
    dates = cols[2].date_input("Created between", value=[], key="filter_dates", format="YYYY-MM-DD")
    search = cols[3].text_input("Search", placeholder="Job # or customer", key="filter_search")
    provider_id = None
    if for_admin:
        names = reads.provider_names()
        if st.session_state.get("filter_provider") not in (None, *names):
            st.session_state["filter_provider"] = None
        choice = cols[4].selectbox(
            "Provider",
            [None, *names],
            format_func=lambda p: "All providers" if p is None else names[p],
            key="filter_provider",
        )
        provider_id = choice
    # Scope comes from the actor: a provider's overdue invoices are their own.
    overdue = st.toggle("Only overdue invoices", key="filter_overdue")
    start: date | None = None
    end: date | None = None
    if isinstance(dates, tuple) and len(dates) >= 1:
        start = dates[0]
        end = dates[1] if len(dates) > 1 else dates[0]
    return JobFilter(
        statuses=tuple(statuses),
        provider_id=provider_id,
        created_from=start,
        created_to=end,
        search=search.strip() or None,
        overdue_only=overdue,
        invoice_statuses=tuple(invoice_statuses),
    )


def _page_size() -> int:
    size = st.session_state.get(SIZE_KEY)
    if size not in PAGE_SIZES:
        size = st.session_state[SIZE_KEY] = PAGE_SIZES[1]
    return int(size)


def _turn(by: int) -> None:
    st.session_state[PAGE_KEY] = int(st.session_state.get(PAGE_KEY, 1)) + by


def pager(page: JobPage) -> None:
    """Previous and next, where the reader is, and how many rows a page has."""
    first = (page.page - 1) * page.page_size + 1 if page.total else 0
    last = min(page.page * page.page_size, page.total)
    bar = st.container(horizontal=True, vertical_alignment="center", key="jobs_pager")
    bar.button(
        "Previous",
        key="page_prev",
        icon=":material/chevron_left:",
        disabled=page.page <= 1,
        on_click=_turn,
        args=(-1,),
    )
    bar.markdown(f"Page {page.page} of {page.pages} · jobs {first}–{last} of {page.total}")
    bar.button(
        "Next",
        key="page_next",
        icon=":material/chevron_right:",
        disabled=page.page >= page.pages,
        on_click=_turn,
        args=(1,),
    )
    bar.selectbox(
        "Rows per page",
        PAGE_SIZES,
        format_func=lambda size: f"{size} per page",
        label_visibility="collapsed",
        key=SIZE_KEY,
        width=150,
        on_change=lambda: st.session_state.update({PAGE_KEY: 1}),
    )


# ---------------------------------------------------------------------------------------
# The table


def _status_column(label: str, words: list[str] | tuple[str, ...]) -> Any:
    """A status as one coloured pill with its word (the cell holds a one-word list)."""
    return st.column_config.MultiselectColumn(
        label,
        options=list(words),
        color=[status_colour(word) for word in words],
        format_func=status_word,
    )


def table_frame(page: JobPage, *, for_admin: bool) -> pd.DataFrame:
    """The page's rows, money as numbers (dollars) so that the grid sorts them as such."""
    return pd.DataFrame(
        [
            {
                "Job #": row.job_id,
                "Price": dollars(row.price),
                "Job": [row.job_status],
                "Invoice": [row.invoice_status],
                "Customer": row.customer,
                "Service": row.service,
                **({"Provider": row.provider} if for_admin else {}),
                "Payment": [row.payment_status],
                "Created": row.created_at.date(),
                "Due": row.due_date.date() if row.due_date else None,
                "Pay link": row.hosted_invoice_url,
                "PDF": row.invoice_pdf,
            }
            for row in page.rows
        ]
    )


def table(page: JobPage, *, for_admin: bool, selected: int | None) -> None:
    ids = [row.job_id for row in page.rows]
    wanted = [ids.index(selected)] if selected in ids else []
    current = st.session_state.get(TABLE_KEY)
    if current is None or list(current["selection"]["rows"]) != wanted:
        st.session_state[TABLE_KEY] = {"selection": {"rows": wanted}}
    st.dataframe(
        table_frame(page, for_admin=for_admin),
        hide_index=True,
        width="stretch",
        height="content",
        key=TABLE_KEY,
        on_select="rerun",
        selection_mode="single-row",
        placeholder="",
        column_config={
            "Job #": st.column_config.NumberColumn("Job #", format="%d", width=56),
            "Price": st.column_config.NumberColumn("Price", format="dollar", width=82),
            "Job": _status_column("Job", JOB_STATUSES),
            "Invoice": _status_column("Invoice", SHOWN_STATUSES),
            "Payment": _status_column("Payment", PAYMENT_STATUSES),
            "Created": st.column_config.DateColumn("Created", format="YYYY-MM-DD"),
            "Due": st.column_config.DateColumn("Due", format="YYYY-MM-DD"),
            "Pay link": st.column_config.LinkColumn("Pay page", display_text="Pay page"),
            "PDF": st.column_config.LinkColumn("PDF", display_text="PDF"),
        },
    )
    st.session_state[DRAWN_KEY] = (ids, wanted)


def _clicked() -> tuple[bool, int | None]:
    """Whether the reader changed the table's selection since it was drawn, and to which
    job (None: they cleared it). Rows are positions in the table as it was drawn."""
    drawn = st.session_state.get(DRAWN_KEY)
    current = st.session_state.get(TABLE_KEY)
    if drawn is None or current is None:
        return False, None
    ids, rows_drawn = drawn
    rows = list(current["selection"]["rows"])
    if rows == rows_drawn:
        return False, None
    if rows and 0 <= rows[0] < len(ids):
        return True, int(ids[rows[0]])
    return True, None


# ---------------------------------------------------------------------------------------
# One job


def _badge(label: str, status: str) -> None:
    st.badge(f"{label}: {status_word(status)}", color=status_colour(status))


def detail(actor: Actor, row: JobRow) -> None:
    """The job: what it is worth, where it stands and what to do next first (they are all
    a phone shows without scrolling), then who, what, and its history."""
    info = reads.job_detail(actor, row.job_id)
    job = info["job"]
    assert isinstance(job, dict)
    with st.container(key="job_detail"):
        st.subheader(f"Job #{row.job_id} · {md(row.service)}")
        figures = st.container(horizontal=True, vertical_alignment="center", gap="small")
        with figures:
            st.metric("Price", money(row.price), width="content")
            _badge("Job", row.job_status)
            _badge("Invoice", row.invoice_status)
            _badge("Payment", row.payment_status)
        show_last_result(row.job_id)
        if allowed(actor, "invoice.send"):
            action_buttons(actor, row)
        due = f" · due {when(row.due_date)}" if row.due_date else ""
        st.caption(
            f"Customer: {md(row.customer)} · Provider: {md(row.provider)} · "
            f"created {when(row.created_at)}{due}"
        )
        # The customer's own words: plain text, never markdown.
        st.text(str(job.get("description") or "No description"))
        money_back_section(info)
        reminder_section(actor, row)
        with st.expander("Timeline", expanded=True):
            timeline(actor, row.job_id)


def timeline(actor: Actor, job_id: int) -> None:
    """One line per entry, oldest first, so it wraps on a phone instead of scrolling."""
    for entry in reads.job_history(actor, job_id):
        # Details carry people's and Stripe's words: shown as text.
        detail = f" — {md(entry.detail)}" if entry.detail else ""
        st.markdown(f"{when(entry.at, with_time=True)} UTC · **{md(entry.what)}**{detail}")


def _close_detail() -> None:
    """The drawer dismissed: the job closes and its row is no longer selected."""
    st.session_state[SELECTED_KEY] = None
    st.session_state[TABLE_KEY] = {"selection": {"rows": []}}


@st.dialog("Job details", position="right", width=600, on_dismiss=_close_detail)
def detail_drawer(actor: Actor, job_id: int) -> None:
    """The job in a drawer over the table's right side (the whole screen on a phone), so
    it opens where the reader is, however far down the table they clicked.

    The drawer reruns on its own after an action inside it (a refund, a reminder), so it
    reads the job's row itself: the table's row is from the page's last full run."""
    row = _find(actor, job_id)
    if row is None:
        st.warning(f"No job #{job_id} to show.")
        return
    detail(actor, row)


def _find(actor: Actor, job_id: int) -> JobRow | None:
    """The job's row whatever the filters, if this actor may see it."""
    found = reads.jobs_page(actor, JobFilter(job_id=job_id), 1, 1).rows
    return found[0] if found else None


# ---------------------------------------------------------------------------------------
# The whole browser


def job_browser(actor: Actor, *, for_admin: bool) -> JobPage:
    names = reads.provider_names() if for_admin else {}
    _open_link(for_admin, list(names))
    state = st.session_state
    changed, clicked = _clicked()
    if changed:
        state[SELECTED_KEY] = clicked
    if SELECT_NEXT_KEY in state:  # set by an action: the detail stays on that job
        state[SELECTED_KEY] = state.pop(SELECT_NEXT_KEY)

    chosen = filters(actor, for_admin=for_admin)
    size = _page_size()
    linked = state.pop("jobs_link_job", None)
    if linked is not None:
        # A link to a job opens the page that lists it (if the filters list it at all).
        state[PAGE_KEY] = reads.job_page_number(actor, chosen, linked, size) or state[PAGE_KEY]
    shown_view = (chosen, size)
    if state.get(SHOWN_VIEW_KEY, shown_view)[:2] != shown_view:
        state[PAGE_KEY] = 1  # other filters or another page size start at the top
    page = reads.jobs_page(actor, chosen, int(state.get(PAGE_KEY, 1)), size)
    state[PAGE_KEY] = page.page  # a page past the end is the last one

    selected: int | None = state.get(SELECTED_KEY)
    rows = {row.job_id: row for row in page.rows}
    view_moved = state.get(SHOWN_VIEW_KEY, (chosen, size, page.page)) != (chosen, size, page.page)
    if view_moved and selected not in rows and selected != last_action_job():
        selected = None  # the job left the table with the reader's move
    state[SHOWN_VIEW_KEY] = (chosen, size, page.page)

    st.caption(f"{page.total} job{'s' if page.total != 1 else ''}")
    if page.rows:
        if selected is None:
            st.caption("Select a row (the circle at its left) to open the job.")
        table(page, for_admin=for_admin, selected=selected)
        pager(page)
        on_page = sum(row.price for row in page.rows)
        st.caption(f"{money(on_page)} in the jobs on this page")
    else:
        st.info("No jobs match these filters.")
        state.pop(DRAWN_KEY, None)

    row = rows.get(selected) if selected is not None else None
    if selected is not None and row is None:
        # Open though not in the table: just acted on, or named by a link.
        row = _find(actor, selected)
        if row is None:
            st.warning(f"No job #{selected} to show.")
            selected = None
    state[SELECTED_KEY] = selected
    if row is not None:
        detail_drawer(actor, row.job_id)
    _write_link(
        View(
            job_id=selected,
            statuses=chosen.statuses,
            provider_id=chosen.provider_id,
            search=chosen.search or "",
            created_from=chosen.created_from,
            created_to=chosen.created_to,
            overdue=chosen.overdue_only,
            page=page.page,
            page_size=size,
            invoice_statuses=chosen.invoice_statuses,
        )
    )
    return page
