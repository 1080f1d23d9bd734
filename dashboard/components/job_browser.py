"""The jobs table with its filters, paging and the selected job's detail and actions.

Providers and admins use the same component; what each sees is decided by core from the
signed-in actor, not by the filters here.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.jobs.queries import JobFilter, JobPage, JobRow
from dashboard.components import reads
from dashboard.components.formatting import badge, money, when
from dashboard.components.job_actions import (
    SELECT_NEXT_KEY,
    action_buttons,
    last_action_job,
    show_last_result,
)
from dashboard.components.safe_text import md

JOB_STATUSES = ["new", "completed", "paid", "cancelled"]
PAGE_SIZE = 25


def filters(actor: Actor, *, for_admin: bool) -> JobFilter:
    cols = st.columns([2, 2, 2, 2] if for_admin else [2, 2, 2])
    statuses = cols[0].multiselect("Job status", JOB_STATUSES, key="filter_status")
    dates = cols[1].date_input("Created between", value=[], key="filter_dates", format="YYYY-MM-DD")
    search = cols[2].text_input("Search", placeholder="Job # or customer", key="filter_search")
    provider_id = None
    overdue = False
    if for_admin:
        names = reads.provider_names()
        choice = cols[3].selectbox(
            "Provider",
            [None, *names],
            format_func=lambda p: "All providers" if p is None else names[p],
            key="filter_provider",
        )
        provider_id = choice
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
        search=search or None,
        overdue_only=overdue,
    )


def table(page: JobPage, *, for_admin: bool) -> None:
    frame = pd.DataFrame(
        [
            {
                "Job #": row.job_id,
                "Created": when(row.created_at),
                "Service": row.service,
                "Customer": row.customer,
                **({"Provider": row.provider} if for_admin else {}),
                "Price": money(row.price),
                "Job": badge(row.job_status),
                "Payment": badge(row.payment_status),
                "Invoice": badge(row.invoice_status),
                "Due": when(row.due_date),
                "Pay link": row.hosted_invoice_url,
                "PDF": row.invoice_pdf,
            }
            for row in page.rows
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "Pay link": st.column_config.LinkColumn("Invoice page", display_text="Open"),
            "PDF": st.column_config.LinkColumn("PDF", display_text="PDF"),
        },
    )


def detail(actor: Actor, row: JobRow) -> None:
    st.subheader(f"Job #{row.job_id} · {md(row.service)}")
    info = reads.job_detail(actor, row.job_id)
    job = info["job"]
    assert isinstance(job, dict)
    a, b, c, d = st.columns(4)
    a.metric("Price", money(row.price))
    b.metric("Job", row.job_status)
    c.metric("Payment", row.payment_status)
    d.metric("Invoice", row.invoice_status)
    st.caption(f"Customer: {md(row.customer)} · Provider: {md(row.provider)}")
    # The customer's own words: plain text, never markdown.
    st.text(str(job.get("description") or "No description"))
    show_last_result(row.job_id)
    if allowed(actor, "invoice.send"):
        action_buttons(actor, row)
    with st.expander("Timeline", expanded=True):
        history = reads.job_history(actor, row.job_id)
        st.dataframe(
            pd.DataFrame(
                [
                    {"When": when(e.at, with_time=True), "What": e.what, "Detail": e.detail}
                    for e in history
                ]
            ),
            hide_index=True,
            width="stretch",
        )


def job_browser(actor: Actor, *, for_admin: bool) -> JobPage:
    chosen = filters(actor, for_admin=for_admin)
    first = reads.jobs_page(actor, chosen, 1, PAGE_SIZE)
    page_number = 1
    if first.pages > 1:
        page_number = int(
            st.number_input(
                f"Page (of {first.pages})",
                min_value=1,
                max_value=first.pages,
                value=1,
                step=1,
                key="filter_page",
            )
        )
    page = first if page_number == 1 else reads.jobs_page(actor, chosen, page_number, PAGE_SIZE)
    st.caption(f"{page.total} job{'s' if page.total != 1 else ''}")
    acted_on = last_action_job()
    if page.rows:
        table(page, for_admin=for_admin)
    else:
        st.info("No jobs match these filters.")
        if acted_on is None:
            return page
    rows = {row.job_id: row for row in page.rows}
    if acted_on is not None and acted_on not in rows:
        # Keep showing the job just acted on, even when the filters no longer match it.
        found = reads.jobs_page(actor, JobFilter(job_id=acted_on), 1, 1).rows
        rows = {**{row.job_id: row for row in found}, **rows}
    if SELECT_NEXT_KEY in st.session_state:  # set by an action; applied before the widget exists
        st.session_state["selected_job"] = st.session_state.pop(SELECT_NEXT_KEY)
    selected = st.selectbox(
        "Job details",
        list(rows),
        # No status in the label: a label that changes after an action would lose the choice.
        format_func=lambda j: f"#{j} · {rows[j].service} · {rows[j].customer}",
        key="selected_job",
    )
    if selected is not None and selected in rows:
        detail(actor, rows[selected])
    return page
