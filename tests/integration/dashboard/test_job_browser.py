"""The jobs table as people use it: a row click opens the job, paging with previous and
next and a page size, money as numbers, statuses as coloured pills, and the view in the
address bar, so that a link opens the same view (and `?job=` that job)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from core.billing.invoice_status import SHOWN_STATUSES
from core.context import AppContext
from core.db.models import Customer, Job, StripeInvoice, utcnow
from core.db.session import session_scope
from core.identity.actor import SYSTEM
from core.jobs.lifecycle import complete_job
from dashboard.components.formatting import STATUS_COLOURS
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    DEV,
    MARIA,
    PROVIDER_PASSWORD,
    Demo,
    Small,
    add_job,
    badges,
    captions,
    jobs_table,
    open_job,
    open_page,
    provider_job_ids,
    shown,
    shown_job_ids,
    signed_in,
)
from tests.support.sandbox import SandboxControl


def my_jobs(email: str = MARIA, password: str = PROVIDER_PASSWORD) -> AppTest:
    return open_page(signed_in(email, password), "my_jobs.py")


def follow(at: AppTest, **params: str | list[str]) -> AppTest:
    """Open a link to the page with this query string, in the signed-in session."""
    at.query_params.clear()
    at.query_params.update(params)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_job_id(at: AppTest) -> int | None:
    heads = [h.value for h in at.subheader if h.value.startswith("Job #")]
    return int(heads[0].split(" ")[1].lstrip("#")) if heads else None


def selected_rows(at: AppTest) -> list[int]:
    return list(at.session_state["jobs_table"]["selection"]["rows"])


def warnings(at: AppTest) -> list[str]:
    return [shown(w.value) for w in at.warning]


def column_config(at: AppTest) -> dict[str, Any]:
    frame = next(d for d in at.dataframe if "Price" in d.value.columns)
    return dict(json.loads(frame.proto.columns))


def button(at: AppTest, key: str) -> Any:
    return at.button(key=key)


# ---------------------------------------------------------------------------------------
# Opening a job


def test_a_row_click_opens_the_job_and_clearing_it_closes_it(
    demo: Demo, dashboard: AppContext
) -> None:
    with session_scope(dashboard.sessions) as session:
        expected = provider_job_ids(session, demo.provider_id(MARIA))
    at = my_jobs()
    assert open_job_id(at) is None  # nothing opens by itself
    assert "job" not in at.query_params

    open_job(at, expected[3])
    assert open_job_id(at) == expected[3]
    assert at.query_params["job"] == str(expected[3])
    assert selected_rows(at) == [3]

    open_job(at, expected[7])  # another row
    assert open_job_id(at) == expected[7]

    at.session_state["jobs_table"] = {"selection": {"rows": []}}  # the row clicked again
    at.run()
    assert open_job_id(at) is None and "job" not in at.query_params


def test_paging_with_previous_next_and_a_page_size(demo: Demo, dashboard: AppContext) -> None:
    with session_scope(dashboard.sessions) as session:
        expected = provider_job_ids(session, demo.provider_id(MARIA))
    total = len(expected)
    assert 25 < total <= 50
    at = my_jobs()
    assert shown_job_ids(at) == expected[:25]
    assert button(at, "page_prev").disabled and not button(at, "page_next").disabled
    assert f"Page 1 of 2 · jobs 1–25 of {total}" in [m.value for m in at.markdown]

    button(at, "page_next").click().run()
    assert shown_job_ids(at) == expected[25:]
    assert at.query_params["page"] == "2"
    assert not button(at, "page_prev").disabled and button(at, "page_next").disabled
    assert f"Page 2 of 2 · jobs 26–{total} of {total}" in [m.value for m in at.markdown]

    # A job opened on this page closes when the reader pages away from it.
    open_job(at, expected[26])
    button(at, "page_prev").click().run()
    assert shown_job_ids(at) == expected[:25] and open_job_id(at) is None
    assert "page" not in at.query_params

    at.selectbox(key="page_size").set_value(10).run()
    assert shown_job_ids(at) == expected[:10]
    assert at.query_params["size"] == "10"
    pages = -(-total // 10)
    assert f"Page 1 of {pages} · jobs 1–10 of {total}" in [m.value for m in at.markdown]
    button(at, "page_next").click().run()
    assert shown_job_ids(at) == expected[10:20]


def test_a_new_filter_starts_at_the_first_page(demo: Demo, dashboard: AppContext) -> None:
    at = my_jobs()
    button(at, "page_next").click().run()
    assert at.query_params["page"] == "2"
    at.multiselect(key="filter_status").set_value(["paid"]).run()
    assert "page" not in at.query_params
    assert [m.value for m in at.markdown if m.value.startswith("Page ")][0].startswith("Page 1 ")


# ---------------------------------------------------------------------------------------
# Links


def test_a_link_to_a_job_opens_the_page_that_lists_it(demo: Demo, dashboard: AppContext) -> None:
    with session_scope(dashboard.sessions) as session:
        expected = provider_job_ids(session, demo.provider_id(MARIA))
    target = expected[15]  # on the second page of ten
    at = follow(my_jobs(), job=str(target), size="10")
    assert open_job_id(at) == target
    assert shown_job_ids(at) == expected[10:20]
    assert selected_rows(at) == [5]
    assert at.query_params == {"job": str(target), "page": "2", "size": "10"}
    # The link is read once: clicking on in the page works as usual.
    button(at, "page_next").click().run()
    assert shown_job_ids(at) == expected[20:30] and open_job_id(at) is None


def test_a_link_to_a_job_the_filters_leave_out_still_opens_it(
    demo: Demo, dashboard: AppContext
) -> None:
    with session_scope(dashboard.sessions) as session:
        paid = session.scalar(
            select(Job.id).where(Job.provider_id == demo.provider_id(MARIA), Job.status == "paid")
        )
    assert paid is not None
    at = follow(my_jobs(), job=str(paid), status="new")
    assert open_job_id(at) == paid
    assert paid not in shown_job_ids(at)
    assert {tuple(v) for v in jobs_table(at)["Job"]} == {("new",)}


def test_the_filters_live_in_the_link(demo: Demo, dashboard: AppContext) -> None:
    at = my_jobs()
    at.multiselect(key="filter_status").set_value(["paid", "completed"]).run()
    at.text_input(key="filter_search").input("e").run()
    wanted = shown_job_ids(at)
    assert wanted
    link = dict(at.query_params)
    assert link == {"status": ["paid", "completed"], "search": "e"}

    # The same link in another sign-in shows the same view, the widgets set to it.
    other = follow(my_jobs(), **link)
    assert shown_job_ids(other) == wanted
    assert other.multiselect(key="filter_status").value == ["paid", "completed"]
    assert other.text_input(key="filter_search").value == "e"

    # Dates too: the link's range is the date filter's.
    with session_scope(dashboard.sessions) as session:
        created = sorted(
            session.scalars(
                select(Job.created_at).where(Job.provider_id == demo.provider_id(MARIA))
            )
        )
    start, end = created[5].date(), created[15].date()
    ranged = follow(other, **{"from": start.isoformat(), "to": end.isoformat()})
    assert ranged.date_input(key="filter_dates").value == (start, end)
    assert ranged.query_params == {"from": start.isoformat(), "to": end.isoformat()}
    assert 10 <= len(shown_job_ids(ranged)) < len(created)


def test_an_admins_provider_and_overdue_filters_live_in_the_link(
    demo: Demo, dashboard: AppContext
) -> None:
    dev = demo.provider_id(DEV)
    with session_scope(dashboard.sessions) as session:
        theirs = provider_job_ids(session, dev)
    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), "all_jobs.py")
    at.selectbox(key="filter_provider").set_value(dev).run()
    assert at.query_params["provider"] == str(dev)
    at = follow(at, provider=str(dev), page="2", size="10")
    assert shown_job_ids(at) == theirs[10:20]
    assert at.selectbox(key="filter_provider").value == dev
    at = follow(at, overdue="1")
    assert at.toggle(key="filter_overdue").value is True
    overdue = jobs_table(at)
    assert overdue is None or {tuple(v) for v in overdue["Invoice"]} == {("overdue",)}


def test_what_a_link_gets_wrong_is_named_and_left_at_its_default(
    demo: Demo, dashboard: AppContext
) -> None:
    with session_scope(dashboard.sessions) as session:
        expected = provider_job_ids(session, demo.provider_id(MARIA))
    at = follow(my_jobs(), page="abc", status=["paid", "lost"], size="7", provider="1")
    assert warnings(at) == ["Part of this link could not be used: status=lost, page=abc, size=7."]
    assert at.multiselect(key="filter_status").value == ["paid"]
    assert set(shown_job_ids(at)) <= set(expected)
    assert {tuple(v) for v in jobs_table(at)["Job"]} == {("paid",)}
    # A provider's page has no provider filter: the parameter is not theirs to set.
    assert "provider" not in at.query_params


def test_a_link_to_another_providers_job_shows_none_of_it(
    demo: Demo, dashboard: AppContext
) -> None:
    with session_scope(dashboard.sessions) as session:
        other = session.scalar(select(Job.id).where(Job.provider_id != demo.provider_id(MARIA)))
    assert other is not None
    at = follow(my_jobs(), job=str(other))
    assert warnings(at) == [f"No job #{other} to show."]
    assert open_job_id(at) is None and other not in shown_job_ids(at)
    assert "job" not in at.query_params
    # The same for a job that does not exist.
    at = follow(at, job="999999")
    assert warnings(at) == ["No job #999999 to show."]


# ---------------------------------------------------------------------------------------
# What the table shows


def test_money_is_numeric_and_statuses_are_coloured_pills(
    demo: Demo, dashboard: AppContext
) -> None:
    provider_id = demo.provider_id(MARIA)
    with session_scope(dashboard.sessions) as session:
        prices = dict(
            session.execute(select(Job.id, Job.price).where(Job.provider_id == provider_id)).all()
        )
        # A customer name that reads as markup stays text in its cell.
        session.execute(update(Customer).values(name="**Bold** <b>x</b>"))
    at = my_jobs()
    frame = jobs_table(at)
    assert frame["Price"].dtype.kind == "f"  # numbers, so the grid sorts them as numbers
    assert [round(p * 100) for p in frame["Price"]] == [prices[j] for j in frame["Job #"]]
    config = column_config(at)
    assert config["Price"]["type_config"] == {"type": "number", "format": "dollar"}
    invoice = config["Invoice"]["type_config"]
    assert invoice["type"] == "multiselect"
    assert [o["value"] for o in invoice["options"]] == list(SHOWN_STATUSES)
    assert [o["color"] for o in invoice["options"]] == [STATUS_COLOURS[s] for s in SHOWN_STATUSES]
    assert {o["value"]: o.get("label") for o in invoice["options"]}["none"] == "not invoiced"
    assert config["Pay link"]["label"] == "Pay page"
    assert config["Pay link"]["type_config"]["display_text"] == "Pay page"
    assert config["PDF"]["type_config"]["display_text"] == "PDF"
    # Absent values (no invoice yet: no link, no due date) show as empty cells.
    table = next(d for d in at.dataframe if "Price" in d.value.columns)
    assert table.proto.placeholder == ""
    assert frame["Pay link"].isna().any()
    # The page's total is outside the grid, as money.
    on_page = sum(prices[j] for j in frame["Job #"])
    dollars = f"${on_page / 100:,.2f}"
    assert f"{dollars} in the jobs on this page" in captions(at)
    assert set(frame["Customer"]) == {"**Bold** <b>x</b>"}


def test_a_job_acted_on_stays_open_when_it_leaves_the_filter(
    small: Small, dashboard: AppContext, sandbox: SandboxControl
) -> None:
    at = follow(my_jobs(small.email, small.password), status="new")
    open_job(at, small.job_id)
    at.button(key=f"complete_{small.job_id}").click().run()
    at.button(key=f"yes_{small.job_id}").click().run()
    assert not at.exception and not at.error
    assert jobs_table(at) is None  # no new job is left
    assert open_job_id(at) == small.job_id
    assert "Job: completed" in badges(at) and "Invoice: open" in badges(at)
    assert at.query_params == {"status": "new", "job": str(small.job_id)}


def test_a_provider_filters_their_overdue_invoices_from_a_link(
    small: Small, dashboard: AppContext, sandbox: SandboxControl
) -> None:
    with session_scope(dashboard.sessions) as session:
        current = add_job(
            session,
            customer_id=small.customer_id,
            provider_id=small.provider_id,
            service_id=small.service_id,
        )
    for job_id in (small.job_id, current):
        assert complete_job(dashboard, job_id=job_id, actor=SYSTEM).invoice is not None
    with session_scope(dashboard.sessions) as session:
        session.execute(
            update(StripeInvoice)
            .where(StripeInvoice.job_id == small.job_id)
            .values(due_date=utcnow() - timedelta(days=3))
        )
    at = follow(my_jobs(small.email, small.password), status="completed", overdue="1")
    assert at.toggle(key="filter_overdue").value is True
    assert shown_job_ids(at) == [small.job_id]
    at.toggle(key="filter_overdue").set_value(False).run()
    assert sorted(shown_job_ids(at)) == sorted([small.job_id, current])
    assert "overdue" not in at.query_params
