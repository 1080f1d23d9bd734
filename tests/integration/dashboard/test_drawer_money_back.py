"""Money that moved back on the pages: the jobs table's word and filter (also from a link),
the job drawer's figures and each refund and dispute, the timeline, and a provider's
earnings page and home with refunds, lost disputes and held money apart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import utcnow
from core.db.session import session_scope
from tests.integration.dashboard.conftest import (
    Small,
    add_job,
    captions,
    jobs_table,
    metrics,
    open_job,
    open_page,
    page_links,
    shown,
    shown_job_ids,
    signed_in,
)
from tests.support.money_back_rows import dispute, paid_by_card, refund

MEMO = "Arrived **late** [see](http://evil.example)"


@dataclass(frozen=True)
class Jobs:
    small: Small
    partly: int
    disputed: int
    lost: int


@pytest.fixture
def jobs(dashboard: AppContext, small: Small) -> Jobs:
    """The small marketplace's new job, and three paid ones: partly refunded (with a memo
    that reads as markup), disputed (open), and lost in a dispute."""
    now = utcnow()
    with session_scope(dashboard.sessions) as session:
        people = {
            "customer_id": small.customer_id,
            "provider_id": small.provider_id,
            "service_id": small.service_id,
        }
        partly, disputed, lost = (add_job(session, **people, price=20000) for _ in range(3))
        for job_id in (partly, disputed, lost):
            paid_by_card(session, job_id, paid_at=now - timedelta(seconds=30))
        refund(session, partly, 5000, at=now - timedelta(seconds=20), memo=MEMO)
        dispute(session, disputed, 20000, at=now - timedelta(seconds=10))
        dispute(session, lost, 20000, at=now - timedelta(seconds=10))
        dispute(session, lost, 20000, at=now - timedelta(seconds=10), status="lost", closed_at=now)
    return Jobs(small, partly, disputed, lost)


def my_jobs(small: Small, **link: str) -> AppTest:
    at = signed_in(small.email, small.password)
    at.query_params.update(link)
    return open_page(at, "my_jobs.py")


def table_with(at: AppTest, column: str) -> Any:
    """The drawer's refunds ("Reason") or disputes ("Outcome") table, if shown."""
    return next((d.value for d in at.dataframe if column in d.value.columns), None)


def invoice_words(at: AppTest) -> dict[int, str]:
    frame = jobs_table(at)
    return {int(j): words[0] for j, words in zip(frame["Job #"], frame["Invoice"], strict=True)}


def test_the_table_shows_the_words_and_a_link_filters_by_them(jobs: Jobs) -> None:
    at = my_jobs(jobs.small)
    assert invoice_words(at) == {
        jobs.small.job_id: "none",
        jobs.partly: "partly refunded",
        jobs.disputed: "disputed",
        jobs.lost: "dispute lost",
    }
    linked = my_jobs(jobs.small, invoice="disputed")
    assert shown_job_ids(linked) == [jobs.disputed]
    assert linked.multiselect(key="filter_invoice").value == ["disputed"]
    # Choosing words in the filter writes them into the address.
    at.multiselect(key="filter_invoice").set_value(["partly refunded", "dispute lost"]).run()
    assert sorted(shown_job_ids(at)) == sorted([jobs.partly, jobs.lost])
    assert at.query_params["invoice"] == ["partly refunded", "dispute lost"]


def test_the_drawer_shows_what_was_paid_refunded_and_why(jobs: Jobs) -> None:
    at = open_job(my_jobs(jobs.small), jobs.partly)
    figures = metrics(at)
    assert (figures["Paid"], figures["Refunded"]) == ("$200.00", "$50.00")
    assert "Held in dispute" not in figures
    refunds = table_with(at, "Reason")
    assert list(refunds.columns) == ["Date", "Amount", "Status", "Reason"]
    [(_, amount, status, reason)] = refunds.itertuples(index=False)
    assert (amount, status, reason) == (50.0, "refunded", MEMO)  # the memo as its characters
    timeline = [shown(m.value) for m in at.markdown if "UTC ·" in str(m.value)]
    assert any(f"Refund of $50.00** — refunded · reason: {MEMO}" in line for line in timeline)


def test_the_drawer_shows_a_dispute_held_and_one_lost(jobs: Jobs) -> None:
    at = open_job(my_jobs(jobs.small), jobs.disputed)
    assert metrics(at)["Held in dispute"] == "$200.00"
    [row] = table_with(at, "Outcome").to_dict("records")
    assert (row["Status"], row["Outcome"]) == ("evidence needed", "open: the money is held")
    assert row["Evidence due by"] != "—"

    at = open_job(my_jobs(jobs.small), jobs.lost)
    assert metrics(at)["Lost in dispute"] == "$200.00"
    [row] = table_with(at, "Outcome").to_dict("records")
    assert row["Outcome"] == "lost: the money went back to the customer"
    assert row["Evidence due by"] == "—"


def test_a_job_nothing_moved_back_on_has_no_money_back_section(jobs: Jobs) -> None:
    at = open_job(my_jobs(jobs.small), jobs.small.job_id)
    assert "Refunded" not in metrics(at)
    assert table_with(at, "Reason") is None and table_with(at, "Outcome") is None


def test_earnings_show_the_balance_net_and_what_moved_back_apart(jobs: Jobs) -> None:
    at = open_page(signed_in(jobs.small.email, jobs.small.password), "earnings.py")
    figures = metrics(at)
    assert figures["Balance"] == "$350.00"  # 600 received, 50 refunded, 200 lost
    assert (figures["Received"], figures["Refunded"]) == ("$600.00", "$50.00")
    assert (figures["Refunded this month"], figures["Lost to disputes"]) == ("$50.00", "$200.00")
    assert figures["Held in disputes"] == "$200.00"  # still in the balance
    assert figures["Jobs paid"] == "2"
    said = captions(at)
    assert (
        "Balance $350.00 = received $600.00 − refunded $50.00 − lost to disputes $200.00." in said
    )
    assert any(c.startswith("Net: each month's payments received") for c in said)
    monthly = at.expander[0].dataframe[0].value
    assert monthly["Earned"].iloc[-1] == 350.0  # this month, net


def test_the_providers_home_shows_refunds_and_held_money(jobs: Jobs) -> None:
    at = open_page(signed_in(jobs.small.email, jobs.small.password), "provider_home.py")
    assert metrics(at)["Refunded this month"] == "$50.00"
    assert (
        "Held in open disputes: $200.00 · lost to disputes: $200.00 · refunded in all: $50.00"
        in captions(at)
    )
    assert page_links(at)["Disputed jobs"] == ("my_jobs", "invoice=disputed")


def test_a_provider_nothing_moved_back_for_sees_no_money_back_figures(small: Small) -> None:
    at = open_page(signed_in(small.email, small.password), "earnings.py")
    assert set(metrics(at)) == {"Balance", "Jobs paid", "Outstanding", "Last 30 days"}
    home = open_page(signed_in(small.email, small.password), "provider_home.py")
    assert "Refunded this month" not in metrics(home)
