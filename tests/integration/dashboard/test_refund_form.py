"""The refund form in a paid job's drawer: offered to admins only, a live preview of the
amount typed, a reason required, the refund made once and told as text, and the reason a
paid job cannot be refunded shown in place of the button."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.billing.admin_actions import record_manual_payment
from core.context import AppContext
from core.db.models import Customer, ServiceProvider, StripeRefund
from core.db.session import session_scope
from core.identity.actor import SYSTEM, Actor
from core.jobs.lifecycle import complete_job
from tests.conftest import LiveService
from tests.integration.dashboard.conftest import (
    Small,
    add_job,
    errors,
    shown,
    small_marketplace,
    successes,
)
from tests.support.sandbox import SandboxControl


def drawer_actions(role: str, actor_id: int | None, job_id: int) -> None:
    """The job's actions as its drawer shows them, for one actor (AppTest runs this)."""
    from core.identity.actor import Actor
    from core.jobs.queries import JobFilter
    from dashboard.components import reads
    from dashboard.components.job_actions import action_buttons

    actor = Actor(role, actor_id)  # type: ignore[arg-type]
    [row] = reads.jobs_page(actor, JobFilter(job_id=job_id), 1, 1).rows
    action_buttons(actor, row)


def actions(role: str, actor_id: int | None, job_id: int) -> AppTest:
    at = AppTest.from_function(
        drawer_actions, kwargs={"role": role, "actor_id": actor_id, "job_id": job_id}
    )
    at.run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    return at


def paid_job(ctx: AppContext, sandbox: SandboxControl, small: Small, price: int) -> tuple[int, str]:
    with session_scope(ctx.sessions) as session:
        job_id = add_job(
            session,
            customer_id=small.customer_id,
            provider_id=small.provider_id,
            service_id=small.service_id,
            price=price,
        )
    result = complete_job(ctx, job_id=job_id, actor=SYSTEM)
    assert result.invoice is not None
    ctx.gateway.pay_test_invoice(result.invoice.invoice_id, card="visa")
    assert sandbox.drain(timeout=20) == 0
    st.cache_data.clear()  # the job's row is cached for a few seconds
    return job_id, result.invoice.invoice_id


def markdown(at: AppTest) -> list[str]:
    return [shown(m.value) for m in at.markdown]


def earnings(ctx: AppContext, provider_id: int) -> int:
    with session_scope(ctx.sessions) as session:
        provider = session.get(ServiceProvider, provider_id)
        assert provider is not None
        return provider.earnings


def test_an_admin_refunds_part_of_a_paid_job_with_a_live_preview_and_a_reason(
    dashboard: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    small = small_marketplace(dashboard)
    job_id, invoice_id = paid_job(dashboard, sandbox, small, 20000)
    with session_scope(dashboard.sessions) as session:  # a name is text, never markdown
        customer = session.get(Customer, small.customer_id)
        assert customer is not None
        customer.name = "Ann *Lee*"

    at = actions("admin", 1, job_id)
    at.button(key=f"refund_{job_id}").click().run()
    assert at.text_input(key=f"refund_amount_{job_id}").value == "200.00"  # all that is left
    assert markdown(at)[:2] == [
        f"**Refund job #{job_id}** to Ann *Lee*: $200.00 paid, $0.00 already refunded, "
        "$200.00 left to refund.",
        "Back to the customer: **$200.00**\nProvider earnings: $200.00 → $0.00\n"
        "After this refund the job is refunded in full.",
    ]
    assert "Ann \\*Lee\\*" in at.markdown[0].value
    at.text_input(key=f"refund_amount_{job_id}").input("50").run()
    assert markdown(at)[1] == (
        "Back to the customer: **$50.00**\nProvider earnings: $200.00 → $150.00\n"
        "After this refund the job is partly refunded."
    )
    assert at.button(key=f"refund_yes_{job_id}").disabled  # no reason yet

    at.text_input(key=f"refund_amount_{job_id}").input("250").run()
    assert errors(at) == [
        f"$250.00 is more than is left to refund on job #{job_id}: $200.00 (paid $200.00, "
        "already refunded $0.00)."
    ]
    assert at.button(key=f"refund_yes_{job_id}").disabled

    at.text_input(key=f"refund_amount_{job_id}").input("50").run()
    at.text_input(key=f"refund_reason_{job_id}").input("Late [again](http://x.example)").run()
    at.button(key=f"refund_yes_{job_id}").click().run()
    assert not at.exception and not errors(at)
    [told] = successes(at)
    assert told.startswith(
        f"$50.00 of job #{job_id} went back to the customer; $150.00 is left to refund "
        "(credit note cn_"
    )
    assert earnings(dashboard, small.provider_id) == 15000
    with session_scope(dashboard.sessions) as session:
        [refund] = session.scalars(select(StripeRefund)).all()
        assert (refund.amount, refund.memo) == (5000, "Late [again](http://x.example)")
    notes = sandbox.client.v1.credit_notes.list(params={"invoice": invoice_id}).data
    assert len(notes) == 1
    # The form closed; opened again, it offers what is left.
    assert f"refund_yes_{job_id}" not in [b.key for b in at.button]
    at.button(key=f"refund_{job_id}").click().run()
    assert at.text_input(key=f"refund_amount_{job_id}").value == "150.00"

    # The rest refunded, nothing is left: the button gives way to why.
    at.text_input(key=f"refund_reason_{job_id}").input("Never came back").run()
    at.button(key=f"refund_yes_{job_id}").click().run()
    assert earnings(dashboard, small.provider_id) == 0
    assert f"refund_{job_id}" not in [b.key for b in at.button]
    assert [shown(c.value) for c in at.caption] == [
        f":material/block: No refund: Job #{job_id} is refunded in full already; nothing is "
        "left to refund."
    ]


def test_refund_is_for_admins_and_paid_jobs_and_says_why_it_cannot_be_made(
    dashboard: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    small = small_marketplace(dashboard)
    job_id, _ = paid_job(dashboard, sandbox, small, 8000)
    key = f"refund_{job_id}"
    assert key in [b.key for b in actions("admin", 1, job_id).button]
    assert key not in [b.key for b in actions("provider", small.provider_id, job_id).button]
    assert key not in [b.key for b in actions("finance", 2, job_id).button]
    unpaid = small.job_id  # new, never paid
    assert f"refund_{unpaid}" not in [b.key for b in actions("admin", 1, unpaid).button]

    result = complete_job(dashboard, job_id=unpaid, actor=SYSTEM)
    assert result.invoice is not None
    record_manual_payment(dashboard, job_id=unpaid, actor=Actor("admin", 1), reason="Cash")
    st.cache_data.clear()
    at = actions("admin", 1, unpaid)
    # No button to click only to be told no: the reason stands in its place.
    assert f"refund_{unpaid}" not in [b.key for b in at.button]
    assert [shown(c.value) for c in at.caption] == [
        f":material/block: No refund: Job #{unpaid} was paid by hand (cash or cheque), so "
        "there is no card charge to refund in Stripe; give the money back outside Stripe."
    ]
    assert f"refund_amount_{unpaid}" not in [t.key for t in at.text_input]
