"""Every job, for admins: the providers' table across providers, booking a job for a
customer, and resending overdue invoices in bulk (asked first: it e-mails customers)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.audit import plural
from core.billing.bulk_impact import customers_reached, done_summary
from core.billing.invoicing import resend_invoice
from core.errors import AppError
from core.identity.actor import Actor
from core.identity.permissions import allowed
from core.jobs.booking import customers_matching
from core.jobs.lifecycle import create_job_for_customer, offered_services
from core.jobs.queries import JobFilter
from core.money import parse_cents
from dashboard.components import reads
from dashboard.components.auth import current_user
from dashboard.components.formatting import money, when
from dashboard.components.job_actions import remember_result
from dashboard.components.job_browser import job_browser
from dashboard.components.live import watch
from dashboard.components.runtime import context, data_changed, read_session
from dashboard.components.safe_text import md

RESEND_ASKED = "bulk_resend_asked"


def book_job(actor: Actor) -> None:
    """A job booked on a customer's behalf: the customer found by name, e-mail or number;
    only the services the chosen provider offers."""
    search = st.text_input(
        "Find the customer", placeholder="Name, e-mail or customer #", key="book_search"
    )
    with read_session() as session:
        found = customers_matching(session, search, actor=actor) if search.strip() else []
    choices = {c.id: f"{c.name} · {c.email} · #{c.id}" for c in found}
    if search.strip() and not choices:
        st.caption(md(f"No customer matches “{search.strip()}”."))
    customer_id = st.selectbox(
        "Customer",
        list(choices),
        format_func=choices.__getitem__,
        index=None,
        placeholder="Find the customer above" if not choices else "Choose the customer",
        key="book_customer",
    )
    names = reads.provider_names()
    provider_id = st.selectbox(
        "Provider",
        list(names),
        format_func=names.__getitem__,
        index=None,
        placeholder="Choose a provider",
        key="book_provider",
    )
    services: dict[int, str] = {}
    if provider_id is not None:
        with read_session() as session:
            services = offered_services(session, provider_id)
    service_id = st.selectbox(
        "Service",
        list(services),
        format_func=services.__getitem__,
        index=None,
        placeholder="Choose a provider first" if provider_id is None else "Choose the service",
        key="book_service",
        help="Only the services this provider offers.",
    )
    price_text = st.text_input("Price ($)", placeholder="150.00", key="book_price")
    description = st.text_area("Description (optional)", max_chars=2000, key="book_description")
    ready = None not in (customer_id, provider_id, service_id) and bool(price_text.strip())
    if not st.button("Book the job", type="primary", key="book_job", disabled=not ready):
        return
    assert customer_id is not None and provider_id is not None and service_id is not None
    try:
        price = parse_cents(price_text)
        job_id = create_job_for_customer(
            context(),
            actor=actor,
            customer_id=customer_id,
            provider_id=provider_id,
            service_id=service_id,
            price=price,
            description=description,
        )
    except AppError as error:
        st.error(md(error.message))
        return
    data_changed()
    customer = next(c.name for c in found if c.id == customer_id)
    remember_result(
        job_id,
        f"Job #{job_id} booked for {customer} with {names[provider_id]}: "
        f"{services[service_id]}, {money(price)}.",
    )
    for key in ("book_search", "book_customer", "book_service", "book_price", "book_description"):
        st.session_state.pop(key, None)
    st.rerun()


def resend_all(actor: Actor, job_ids: list[int]) -> list[dict[str, object]]:
    """Each invoice sent again, with a progress bar and a summary at the end."""
    results: list[dict[str, object]] = []
    with st.status(f"Resending {plural(len(job_ids), 'invoice')}…", expanded=True) as box:
        progress = box.progress(0.0, text="Resending…")
        for index, job_id in enumerate(job_ids, start=1):
            try:
                invoice = resend_invoice(context(), job_id=job_id, actor=actor)
                detail = f"Invoice {invoice.number or invoice.invoice_id} was sent again."
                results.append({"Job #": job_id, "Result": "Sent again", "Detail": detail})
            except AppError as error:
                results.append({"Job #": job_id, "Result": "Failed", "Detail": error.message})
            progress.progress(index / len(job_ids), text=f"{index} of {len(job_ids)}")
        sent = sum(1 for r in results if r["Result"] == "Sent again")
        summary = done_summary(sent, len(results), "invoice", "sent again")
        box.update(label=summary, state="complete" if sent == len(results) else "error")
    st.session_state["bulk_summary"] = summary
    return results


def bulk_resend(actor: Actor) -> None:
    overdue = reads.jobs_page(actor, JobFilter(overdue_only=True), 1, 200)
    if not overdue.rows:
        st.caption("No invoice is overdue.")
        return
    labels = {
        row.job_id: f"#{row.job_id} · {row.customer} · {money(row.price)} · due "
        f"{when(row.due_date)}"
        for row in overdue.rows
    }
    chosen = st.multiselect(
        "Overdue invoices", list(labels), format_func=labels.__getitem__, key="bulk_resend_jobs"
    )
    if st.button(
        f"Resend {plural(len(chosen), 'invoice')}" if chosen else "Resend the chosen invoices",
        disabled=not chosen,
        key="bulk_resend",
    ):
        st.session_state[RESEND_ASKED] = True
    if chosen and st.session_state.get(RESEND_ASKED):
        # Each resend is an e-mail from Stripe to a customer: say how many, and ask.
        customers = customers_reached(context(), chosen)
        st.warning(
            f"This e-mails {plural(customers, 'customer')} again: "
            f"{plural(len(chosen), 'invoice')} sent again, each to its customer. Nothing "
            "else changes."
        )
        yes, no = st.columns(2)
        if yes.button(
            f"Yes, e-mail {plural(customers, 'customer')}", type="primary", key="bulk_resend_yes"
        ):
            st.session_state.pop(RESEND_ASKED)
            st.session_state["bulk_results"] = resend_all(actor, chosen)
            data_changed()
        if no.button("Not now", key="bulk_resend_no"):
            st.session_state.pop(RESEND_ASKED)
            st.rerun()
    if st.session_state.get("bulk_results"):
        st.write(md(st.session_state["bulk_summary"]))
        st.dataframe(pd.DataFrame(st.session_state["bulk_results"]), hide_index=True)


user = current_user()
if user is None or not allowed(user.actor, "jobs.manage"):
    st.stop()
st.title("All jobs")
watch(user.actor)  # toasts of failures as they happen
if allowed(user.actor, "job.create_for_customer"):
    with st.expander("Book a job for a customer", icon=":material/add_circle:"):
        book_job(user.actor)
job_browser(user.actor, for_admin=True)

st.divider()
st.subheader("Resend overdue invoices")
bulk_resend(user.actor)
