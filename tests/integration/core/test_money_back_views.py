"""Money that moved back, where a job or a provider's money is shown: the job lists' word
and filter (Python and SQL agree), the job's view, its timeline, and the provider's
earnings (net, with refunds, lost disputes and held money apart)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import case, literal, select, union_all

from core.billing.invoice_status import (
    MONEY_BACK_STATUSES,
    SHOWN_STATUSES,
    shown_status,
    shown_status_condition,
)
from core.context import AppContext
from core.db.models import Job, StripeInvoice
from core.db.session import session_scope
from core.identity.actor import SYSTEM, Actor
from core.jobs.queries import JobFilter, list_jobs, page_of_job
from core.jobs.timeline import job_timeline
from core.jobs.view import job_details
from core.reporting import earnings
from tests.support.factories import Market, job_for
from tests.support.money_back_rows import dispute, paid_by_card, refund

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
LAST_MONTH = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
ADMIN = Actor("admin", None)


@dataclass(frozen=True)
class Jobs:
    """One provider's jobs, by the word each must show."""

    by_word: dict[str, int]
    extra_paid: tuple[int, ...]  # paid, with money back that took nothing (failed, won)
    refunded_then_disputed: int  # partly refunded, then disputed: "disputed"


@pytest.fixture
def jobs(ctx: AppContext, market: Market) -> Jobs:
    ids = {word: job_for(ctx, market, 20000) for word in ("none", "open", *MONEY_BACK_STATUSES)}
    ids["paid"] = job_for(ctx, market, 20000)
    failed, won, refunded_then_disputed = (job_for(ctx, market, 20000) for _ in range(3))
    with session_scope(ctx.sessions) as session:
        for word in ("paid", *MONEY_BACK_STATUSES):
            paid_by_card(session, ids[word], paid_at=LAST_MONTH)
        for job_id in (failed, won, refunded_then_disputed):
            paid_by_card(session, job_id, paid_at=LAST_MONTH)
        # Half refunded last month; the rest in two refunds this month.
        refund(session, ids["refunded"], 10000, at=LAST_MONTH + timedelta(days=1))
        refund(session, ids["refunded"], 6000, at=NOW - timedelta(days=2), memo="Second visit")
        refund(session, ids["refunded"], 4000, at=NOW - timedelta(days=1))
        refund(
            session,
            ids["partly refunded"],
            5000,
            at=NOW - timedelta(days=3),
            memo="Arrived **late**",
            reason="requested_by_customer",
        )
        dispute(session, ids["disputed"], 20000, at=NOW - timedelta(days=1))
        dispute(session, ids["dispute lost"], 20000, at=LAST_MONTH + timedelta(days=2))
        dispute(
            session,
            ids["dispute lost"],
            20000,
            at=LAST_MONTH + timedelta(days=2),
            status="lost",
            closed_at=NOW - timedelta(days=5),
        )
        refund(session, failed, 3000, at=NOW - timedelta(days=1), status="failed")
        dispute(session, won, 20000, at=NOW - timedelta(days=4))
        dispute(session, won, 20000, at=NOW - timedelta(days=4), status="won", closed_at=NOW)
        # An open dispute outweighs an earlier partial refund.
        refund(session, refunded_then_disputed, 2000, at=NOW - timedelta(days=6))
        dispute(session, refunded_then_disputed, 18000, at=NOW - timedelta(days=2))
        open_job = session.get(Job, ids["open"])
        assert open_job is not None
        open_job.status = "completed"
        session.add(
            StripeInvoice(
                invoice_id="in_open",
                job_id=open_job.id,
                customer="cus_test",
                status="open",
                status_rank=1,
                currency="usd",
                amount_due=20000,
                amount_paid=0,
                amount_remaining=20000,
                created=NOW - timedelta(days=1),
                due_date=NOW + timedelta(days=6),
                is_current=True,
            )
        )
    return Jobs(ids, (failed, won), refunded_then_disputed)


EVERY_JOB = JobFilter()


def words_listed(ctx: AppContext, filters: JobFilter = EVERY_JOB) -> dict[int, str]:
    with session_scope(ctx.readers) as session:
        page = list_jobs(session, actor=ADMIN, filters=filters, page_size=200, now=NOW)
    return {row.job_id: row.invoice_status for row in page.rows}


def test_each_job_shows_the_word_of_what_moved_back(ctx: AppContext, jobs: Jobs) -> None:
    shown = words_listed(ctx)
    for word, job_id in jobs.by_word.items():
        assert shown[job_id] == word, word
    assert [shown[j] for j in jobs.extra_paid] == ["paid", "paid"]
    assert shown[jobs.refunded_then_disputed] == "disputed"


def test_the_list_carries_the_amounts_the_drawer_shows(ctx: AppContext, jobs: Jobs) -> None:
    with session_scope(ctx.readers) as session:
        rows = {
            row.job_id: row for row in list_jobs(session, actor=ADMIN, page_size=200, now=NOW).rows
        }
    partly = rows[jobs.by_word["partly refunded"]]
    assert (partly.refunded, partly.disputed, partly.dispute_lost) == (5000, 0, 0)
    assert rows[jobs.by_word["refunded"]].refunded == 20000
    assert rows[jobs.by_word["disputed"]].disputed == 20000
    assert rows[jobs.by_word["dispute lost"]].dispute_lost == 20000
    assert rows[jobs.by_word["paid"]].refunded == 0


def test_the_filter_finds_exactly_the_jobs_that_show_the_word(ctx: AppContext, jobs: Jobs) -> None:
    everything = words_listed(ctx)
    for word in SHOWN_STATUSES:
        filtered = words_listed(ctx, JobFilter(invoice_statuses=(word,)))
        assert set(filtered) == {j for j, shown in everything.items() if shown == word}, word
        with session_scope(ctx.readers) as session:
            for job_id in filtered:
                page = page_of_job(
                    session,
                    actor=ADMIN,
                    job_id=job_id,
                    filters=JobFilter(invoice_statuses=(word,)),
                    now=NOW,
                )
                assert page == 1


def test_words_combine_and_narrow_with_the_other_filters(ctx: AppContext, jobs: Jobs) -> None:
    both = words_listed(ctx, JobFilter(invoice_statuses=("paid", "refunded")))
    assert set(both) == {jobs.by_word["paid"], jobs.by_word["refunded"], *jobs.extra_paid}
    back = words_listed(ctx, JobFilter(invoice_statuses=("partly refunded", "dispute lost")))
    assert set(back) == {jobs.by_word["partly refunded"], jobs.by_word["dispute lost"]}
    # Overdue only and a money-back word: no job is both.
    assert words_listed(ctx, JobFilter(invoice_statuses=("refunded",), overdue_only=True)) == {}
    assert words_listed(ctx, JobFilter(invoice_statuses=("lost",))) == {}  # not a word
    mine = Actor("provider", 999)  # another provider's scope holds none of them
    with session_scope(ctx.readers) as session:
        page = list_jobs(
            session, actor=mine, filters=JobFilter(invoice_statuses=("refunded",)), now=NOW
        )
    assert page.total == 0


def test_the_python_word_and_the_sql_filter_agree_everywhere(ctx: AppContext) -> None:
    statuses = [None, "draft", "open", "paid", "void", "uncollectible"]
    dues = [None, NOW - timedelta(days=1), NOW + timedelta(days=1)]
    amounts = [0, 100, 250]
    cases = list(itertools.product(statuses, dues, amounts, amounts, amounts))
    found: dict[int, list[str]] = {}
    with session_scope(ctx.readers) as session:
        # A few statements, each over a hundred cases as rows of literals.
        for first in range(0, len(cases), 100):
            rows = union_all(
                *(
                    select(
                        literal(number).label("number"),
                        literal(status, StripeInvoice.status.type).label("status"),
                        literal(due, StripeInvoice.due_date.type).label("due"),
                        literal(refunded).label("refunded"),
                        literal(disputed).label("disputed"),
                        literal(lost).label("lost"),
                    )
                    for number, (status, due, refunded, disputed, lost) in enumerate(
                        cases[first : first + 100], start=first
                    )
                )
            ).subquery()
            words = [
                case(
                    (
                        shown_status_condition(
                            [word],
                            status=rows.c.status,
                            due_date=rows.c.due,
                            now=NOW,
                            amount=250,
                            refunded=rows.c.refunded,
                            disputed=rows.c.disputed,
                            dispute_lost=rows.c.lost,
                        ),
                        literal(word),
                    )
                )
                for word in SHOWN_STATUSES
            ]
            for number, *matched in session.execute(select(rows.c.number, *words)):
                found[number] = [word for word in matched if word]
    for number, (status, due, refunded, disputed, lost) in enumerate(cases):
        expected = shown_status(
            status, due, NOW, amount=250, refunded=refunded, disputed=disputed, dispute_lost=lost
        )
        assert found[number] == [expected], (status, due, refunded, disputed, lost)


def test_the_job_view_has_the_word_and_each_refund_and_dispute(ctx: AppContext, jobs: Jobs) -> None:
    partly = job_details(
        ctx, job_id=jobs.by_word["partly refunded"], actor=ADMIN, with_invoice=False
    )
    assert partly["invoice_status"] == "partly refunded"
    back = partly["money_back"]
    assert (back["refunded"], back["disputed"], back["dispute_lost"]) == (5000, 0, 0)
    [line] = back["refunds"]
    assert (line["amount"], line["status"], line["memo"]) == (5000, "succeeded", "Arrived **late**")
    assert line["reason"] == "requested_by_customer" and line["created"].startswith("2026-03-12")
    assert back["disputes"] == []

    disputed = job_details(ctx, job_id=jobs.by_word["disputed"], actor=ADMIN, with_invoice=False)
    assert disputed["invoice_status"] == "disputed"
    [case] = disputed["money_back"]["disputes"]
    assert (case["amount"], case["status"], case["outcome"]) == (20000, "needs_response", None)
    assert case["evidence_due_by"].startswith("2026-03-21")

    lost = job_details(ctx, job_id=jobs.by_word["dispute lost"], actor=ADMIN, with_invoice=False)
    assert lost["invoice_status"] == "dispute lost"
    assert lost["money_back"]["disputes"][0]["outcome"] == (
        "lost: the money went back to the customer"
    )
    refunded = job_details(ctx, job_id=jobs.by_word["refunded"], actor=ADMIN, with_invoice=False)
    assert refunded["invoice_status"] == "refunded"
    assert [r["amount"] for r in refunded["money_back"]["refunds"]] == [10000, 6000, 4000]
    plain = job_details(ctx, job_id=jobs.by_word["paid"], actor=ADMIN, with_invoice=False)
    assert plain["invoice_status"] == "paid" and plain["money_back"]["refunds"] == []


def timeline_of(ctx: AppContext, job_id: int) -> list[tuple[str, str]]:
    with session_scope(ctx.readers) as session:
        return [(e.what, e.detail) for e in job_timeline(session, job_id=job_id, actor=ADMIN)]


def test_the_timeline_says_each_refund_and_dispute_in_words(ctx: AppContext, jobs: Jobs) -> None:
    partly = timeline_of(ctx, jobs.by_word["partly refunded"])
    assert (
        "Refund of $50.00",
        "refunded · reason: Arrived **late** · requested by customer · by a credit note",
    ) in partly
    refunded = [e for e in timeline_of(ctx, jobs.by_word["refunded"]) if e[0].startswith("Ref")]
    assert [what for what, _ in refunded] == [
        "Refund of $100.00",
        "Refund of $60.00",
        "Refund of $40.00",
    ]
    disputed = timeline_of(ctx, jobs.by_word["disputed"])
    assert (
        "Dispute of $200.00 opened",
        "reason: product not received · evidence needed; the money is held until the bank "
        "decides · evidence due by 2026-03-21 12:00 UTC",
    ) in disputed
    lost = timeline_of(ctx, jobs.by_word["dispute lost"])
    whats = [what for what, _ in lost]
    assert whats.index("Dispute of $200.00 opened") < whats.index("Dispute of $200.00 lost")
    assert ("Dispute of $200.00 lost", "lost: the money went back to the customer") in lost
    failed = timeline_of(ctx, jobs.extra_paid[0])
    assert ("Refund of $30.00", "failed: not taken off earnings") in failed


def test_earnings_are_net_with_refunds_lost_disputes_and_held_money_apart(
    ctx: AppContext, market: Market, jobs: Jobs
) -> None:
    eight_paid = 8 * 20000
    refunded = 20000 + 5000 + 2000  # the failed refund takes nothing
    lost = 20000
    with session_scope(ctx.readers) as session:
        totals = earnings.summary(session, provider_id=market.provider_id, actor=SYSTEM, now=NOW)
        months = earnings.by_month(session, provider_id=market.provider_id, actor=SYSTEM, now=NOW)
        four = (
            totals,
            months,
            earnings.by_category(session, provider_id=market.provider_id, actor=SYSTEM),
            earnings.last_days(session, provider_id=market.provider_id, actor=SYSTEM, now=NOW),
        )
        overview = earnings.overview(session, provider_id=market.provider_id, actor=SYSTEM, now=NOW)
        assert earnings.ledger_mismatches(session) == []
    assert totals.balance == eight_paid - refunded - lost
    assert (totals.received, totals.refunded, totals.dispute_lost) == (eight_paid, refunded, lost)
    # This month's refunds by their own dates: 60 + 40 + 50 + 20 (10000 was last month).
    assert totals.refunded_this_month == 6000 + 4000 + 5000 + 2000
    assert totals.held == 20000 + 18000  # two open disputes; the won one holds nothing
    # Wholly taken back: the refunded job and the lost one.
    assert totals.jobs_paid == 6
    # By month, net: February had the payments and the first refund, March the rest.
    by_label = {m.label: (m.amount, m.count) for m in months}
    assert by_label["2026-02-01"] == (eight_paid - 10000, 8)
    assert by_label["2026-03-01"] == (-(refunded - 10000) - lost, 0)
    assert sum(m.amount for m in months) == totals.balance
    assert (overview.summary, overview.by_month, overview.by_category, overview.last_days) == four
    assert overview.by_category[0].amount == totals.balance
