"""The overview's e-mail tile and the webhook activity page count the e-mail that needs a
person, each count a link to the Outbox page; finance staff, who cannot act on it, see
none."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import EmailMessage
from core.db.session import session_scope
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    Demo,
    captions,
    metrics,
    open_page,
    page_links,
    signed_in,
)


def stuck_mail(ctx: AppContext) -> None:
    """Three failed, two held for want of SMTP_URL, four still to go and one sent, in place
    of the demo's."""
    with session_scope(ctx.sessions) as session:
        session.query(EmailMessage).delete()
        statuses = ["failed"] * 3 + ["not_configured"] * 2 + ["queued"] * 3 + ["sending", "sent"]
        session.add_all(
            EmailMessage(
                message_key=f"test:{n}",
                kind="payment_confirmed",
                to_address="ann@example.com",
                status=status,
            )
            for n, status in enumerate(statuses)
        )


def outbox_links(at: AppTest) -> dict[str, str]:
    return {
        label: page
        for label, (page, _) in page_links(at).items()
        if "e-mail" in label or "SMTP" in label
    }


def test_the_overview_counts_undelivered_email_each_a_link_to_the_outbox(
    demo: Demo, dashboard: AppContext
) -> None:
    stuck_mail(dashboard)
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert metrics(at)["E-mail not delivered"] == "5"
    # The outbox backlog, the same reading as the service's /readyz.
    assert "4 e-mails waiting to go out" in captions(at)
    links = outbox_links(at)
    assert set(links) == {"3 e-mails failed", "2 waiting for SMTP"}
    assert all(page.endswith("outbox") for page in links.values())


def test_webhook_activity_counts_them_too(demo: Demo, dashboard: AppContext) -> None:
    stuck_mail(dashboard)
    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), "webhook_activity.py")
    links = outbox_links(at)
    assert set(links) == {"3 e-mails failed", "2 waiting for SMTP"}
    assert all(page.endswith("outbox") for page in links.values())


def test_finance_sees_no_email_figures(demo: Demo, dashboard: AppContext) -> None:
    stuck_mail(dashboard)
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    assert "E-mail not delivered" not in metrics(at)
    assert outbox_links(at) == {}
