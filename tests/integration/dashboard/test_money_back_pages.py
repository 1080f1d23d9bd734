"""Money that moved back on finance's pages: the Reports page's payments report shows gross,
refunded, disputes lost, net and held as core counts them, says what each means, and
offers every refund and dispute of its range as a file; the overview collects net and has
a tile for refunds and one for what disputes hold, each opening the jobs they are on."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pandas as pd
from sqlalchemy import select

from core.context import AppContext
from core.db.models import Job, Payment, utcnow
from core.db.session import session_scope
from core.identity.actor import Actor
from core.reporting import overview, reports
from dashboard.components.formatting import money
from tests.integration.core.test_money_back_reports import FORMULA_MEMO, dispute, refund
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    Demo,
    DownloadReader,
    captions,
    metrics,
    open_page,
    page_links,
    signed_in,
)
from tests.integration.dashboard.test_finance_pages import (
    default_range,
    downloads,  # noqa: F401 (the fixture)
    received_frame,
)

FINANCE = Actor("finance", 1)


def money_moved_back(ctx: AppContext) -> dict[str, int]:
    """Three of the demo's paid jobs: one refunded in part today, one disputed and lost
    today, one disputed and still open."""
    now = utcnow()
    with session_scope(ctx.sessions) as session:
        rows = session.execute(
            select(Job.id, Payment.amount)
            .join(Payment, Payment.job_id == Job.id)
            .where(Payment.status == "received", Payment.marked_at < now - timedelta(days=40))
            .order_by(Job.id)
            .limit(3)
        ).all()
        (refunded, _), (lost, lost_amount), (held, held_amount) = rows
        refund(session, refunded, "re_page", 2500, now, memo=FORMULA_MEMO)
        dispute(
            session,
            lost,
            "dp_page_lost",
            lost_amount,
            now - timedelta(hours=1),
            status="lost",
            closed_at=now,
        )
        dispute(session, held, "dp_page_open", held_amount, now, status="needs_response")
    return {"refunded": 2500, "lost": lost_amount, "held": held_amount}


def test_the_payments_report_shows_money_back_and_its_export(
    demo: Demo,
    dashboard: AppContext,
    downloads: DownloadReader,  # noqa: F811
) -> None:
    moved = money_moved_back(dashboard)
    at = open_page(signed_in(FINANCE_EMAIL, FINANCE_PASSWORD), "reports.py")
    assert not at.exception
    start, end = default_range()
    with session_scope(dashboard.readers) as session:
        report = reports.payments_received(
            session, actor=FINANCE, start=start, end=end, group_by="month"
        )
    total = report.total
    assert (total.refunded, total.disputed, total.held) == (
        moved["refunded"],
        moved["lost"],
        moved["held"],
    )
    shown = {m.label: m.value for m in at.tabs[0].metric}
    assert shown["Gross received"] == money(total.gross)
    assert shown["Refunded"] == money(moved["refunded"])
    assert shown["Disputes lost"] == money(moved["lost"])
    assert shown["Net received"] == money(total.gross - moved["refunded"] - moved["lost"])
    assert shown["Held in open disputes"] == money(moved["held"])
    frame: pd.DataFrame = received_frame(at)
    this_month = frame.iloc[-1]  # every refund and dispute is dated today
    assert round(this_month["Refunded"] * 100) == moved["refunded"]
    assert round(this_month["Net"] * 100) == report.rows[-1].net
    assert any("on the day of the refund" in c for c in captions(at))

    money_back = downloads(at, "money_back_csv")
    assert money_back.filename == f"refunds-and-disputes-{start}-to-{end}.csv"
    rows = list(csv.DictReader(io.StringIO(money_back.data.decode("utf-8-sig"))))
    # All made at the same moment: refunds first, then by id.
    assert [r["Stripe id"] for r in rows[:-1]] == ["re_page", "dp_page_lost", "dp_page_open"]
    memo = next(r["Memo"] for r in rows if r["Stripe id"] == "re_page")
    assert memo == "'" + FORMULA_MEMO


def test_the_overview_collects_net_and_links_refunds_and_disputes(
    demo: Demo, dashboard: AppContext
) -> None:
    moved = money_moved_back(dashboard)
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert not at.exception
    with session_scope(dashboard.readers) as session:
        figures = overview.marketplace(session, actor=Actor("admin", 1))
    back = figures.back_this_month
    assert (back.refunded.amount, back.disputes_lost.amount) == (moved["refunded"], moved["lost"])
    shown = metrics(at)
    assert shown["Collected this month"] == money(
        figures.received_this_month.amount - moved["refunded"] - moved["lost"]
    )
    assert shown["Refunded this month"] == money(moved["refunded"])
    assert shown["Held in disputes"] == money(moved["held"])
    assert any(
        f"{money(figures.received_this_month.amount)} received, {money(moved['refunded'])} "
        "refunded" in c
        for c in captions(at)
    )
    links = page_links(at)
    assert links["Refunded jobs"] == ("all_jobs", "invoice=refunded")
    assert links["Partly refunded jobs"] == ("all_jobs", "invoice=partly+refunded")
    assert links["Disputed jobs"] == ("all_jobs", "invoice=disputed")

    finance = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    assert metrics(finance)["Refunded this month"] == money(moved["refunded"])
    assert {page for page, _ in page_links(finance).values()} == {"reports"}
