"""The e-mail templates: every kind says its facts in the subject, the text and the HTML;
text people or Stripe wrote stays text; subjects are one header line; the preview is for
admins."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from core.errors import Forbidden, InvalidInput
from core.identity.actor import Actor
from core.notify.email_facts import EmailFacts, one_line, safe_url
from core.notify.email_preview import MARKUP, SAMPLE, preview, sample_for
from core.notify.emails import KINDS, SUBJECT_LIMIT, render

ADMIN = Actor("admin", 1)
PAY_URL = "https://invoice.stripe.com/i/acct_sample/test_sample"
assert SAMPLE.pay_url == PAY_URL
PAY_KINDS = ("invoice_sent", "payment_failed", "reminder")
REFUND_KINDS = ("refund", "refund_recorded")
MONEY_BACK_KINDS = (*REFUND_KINDS, "dispute_opened", "dispute_won", "dispute_lost")


class _Page(HTMLParser):
    """The tags, attributes and visible text of an HTML body."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def visible(html: str) -> str:
    return " ".join(" ".join(parsed(html).text).split())


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_names_the_job_and_the_amount_in_subject_text_and_html(kind: str) -> None:
    facts = sample_for(kind)
    email = preview(ADMIN, kind)
    amount = "$75.00" if kind in REFUND_KINDS else "$150.00"
    assert "#1042" in email.subject and amount in email.subject
    for body in (email.text, visible(email.html)):
        assert "Hello " + facts.recipient_name in body
        for fact in ("1042", "Plumbing", "Rivera Plumbing & Heating", "November 28, 2026"):
            assert fact in body, (kind, fact)
        assert amount in body
        assert "Kitchen sink: replaced the trap" in body
    # Plain text is a message of its own: no markup in it.
    assert "<" not in email.text and "&amp;" not in email.text
    assert parsed(email.html).tags[:1] == ["html"]
    assert f"<title>{email.subject}</title>" in email.html


@pytest.mark.parametrize("kind", PAY_KINDS)
def test_the_kinds_that_ask_for_money_carry_the_pay_link(kind: str) -> None:
    email = preview(ADMIN, kind)
    assert PAY_URL in email.text
    assert PAY_URL in parsed(email.html).links
    # Without an open invoice there is nothing to pay and no link.
    closed = preview(ADMIN, kind, replace(sample_for(kind), pay_url=None))
    assert PAY_URL not in closed.text and PAY_URL not in closed.html
    assert "nothing to pay" in closed.text


@pytest.mark.parametrize("kind", ["payment_confirmed", "payment_received", *MONEY_BACK_KINDS])
def test_the_others_ask_for_nothing(kind: str) -> None:
    email = preview(ADMIN, kind, replace(sample_for(kind), pay_url=PAY_URL))
    assert PAY_URL not in email.text and parsed(email.html).links == []


def test_each_kind_says_its_own_news() -> None:
    said = {kind: preview(ADMIN, kind) for kind in KINDS}
    assert "invoice of $150.00 is ready and is due on December 5, 2026" in said["invoice_sent"].text
    assert "due December 5, 2026" in said["invoice_sent"].subject
    assert "received your payment of $150.00" in said["payment_confirmed"].text
    assert "did not go through" in said["payment_failed"].text
    assert "Please try again here" in said["payment_failed"].text
    assert said["payment_received"].text.startswith("Hello Rivera Plumbing & Heating,")
    assert "Ann Lee has paid $150.00 for job #1042" in said["payment_received"].text
    assert "refunded $75.00" in said["refund"].text
    assert "You have now paid $75.00 for this job (of the $150.00 you paid)." in said["refund"].text
    assert "banks usually take 5–10 business days" in said["refund"].text
    assert "Reason: The visit was cut short; half the price back." in said["refund"].text
    assert "Refunded: $75.00" in said["refund"].text
    told_provider = said["refund_recorded"].text
    assert told_provider.startswith("Hello Rivera Plumbing & Heating,")
    assert "Ann Lee has been refunded $75.00 of the $150.00 paid for job #1042" in told_provider
    assert "you keep $75.00 for this job" in told_provider
    assert "Reason: The visit was cut short" in told_provider
    opened = said["dispute_opened"].text
    assert "$150.00 is held until the bank decides" in opened
    assert "with the job's records by December 20, 2026" in opened
    assert "Held: $150.00" in opened
    assert "in your favour" in said["dispute_won"].text
    assert "Released: $150.00" in said["dispute_won"].text
    assert "$150.00 has been taken off your earnings" in said["dispute_lost"].text
    assert "Taken back: $150.00" in said["dispute_lost"].text
    for kind in MONEY_BACK_KINDS[1:]:
        assert said[kind].text.startswith("Hello Rivera Plumbing & Heating,"), kind


@pytest.mark.parametrize("kind", REFUND_KINDS)
def test_a_refund_of_the_whole_payment_says_so(kind: str) -> None:
    whole = replace(sample_for(kind), amount=15000, still_paid=0)
    email = render(kind, whole)
    assert "$150.00" in email.subject and "Refunded: $150.00" in email.text
    assert "refunded in full" in email.text and "refunded in full" in visible(email.html)
    assert "keep" not in email.text and "You have now paid" not in email.text


def test_a_dispute_without_a_due_date_names_none() -> None:
    email = render("dispute_opened", replace(sample_for("dispute_opened"), evidence_due=None))
    assert "we answer the dispute with the job's records. The bank then decides" in email.text


@pytest.mark.parametrize("kind", REFUND_KINDS)
def test_the_refund_memo_is_text_in_both_bodies(kind: str) -> None:
    memo = f"Half back\n{MARKUP}"
    email = render(kind, replace(sample_for(kind), reason=memo))
    page = parsed(email.html)
    assert "script" not in page.tags and "img" not in page.tags and page.links == []
    assert "Half back\n&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x" in email.html
    assert f"Reason: {memo}" in email.text


@pytest.mark.parametrize(
    ("days", "subject_end", "sentence"),
    [
        (-3, "due in 3 days", "is due in 3 days, on December 5, 2026."),
        (-1, "due in 1 day", "is due in 1 day, on December 5, 2026."),
        (0, "due today", "is due today, December 5, 2026."),
        (1, "1 day late", "is 1 day late (it was due on December 5, 2026)."),
        (14, "14 days late", "is 14 days late (it was due on December 5, 2026)."),
    ],
)
def test_a_reminder_says_how_early_or_late_and_how_much(
    days: int, subject_end: str, sentence: str
) -> None:
    email = preview(ADMIN, "reminder", replace(sample_for("reminder"), days=days))
    assert email.subject == f"Reminder: invoice for job #1042 (Plumbing), $150.00, {subject_end}"
    assert sentence in email.text and sentence in visible(email.html)
    assert "Amount due: $150.00" in email.text


@pytest.mark.parametrize("kind", KINDS)
def test_written_text_is_escaped_in_html_and_inert_everywhere(kind: str) -> None:
    email = preview(ADMIN, kind, with_markup=True)
    page = parsed(email.html)
    # No tag, link or image came from the written fields: only the layout's own.
    assert "script" not in page.tags and "img" not in page.tags
    assert "https://evil.example" not in page.links
    assert "<script>" not in email.html and "<img src=x" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "&lt;img src=x onerror=alert(2)&gt;" in email.html
    # Shown as the characters written, markdown included, in both bodies.
    assert MARKUP in visible(email.html)
    assert MARKUP in email.text
    assert "**bold** [link](https://evil.example)" in email.subject
    same_layout = parsed(preview(ADMIN, kind).html).tags
    assert page.tags == same_layout


def test_a_subject_is_one_header_line_of_bounded_length() -> None:
    hostile = replace(
        SAMPLE,
        service="Plumbing\r\nBcc: victim@example.com\nX-Evil: 1\u2028\u0085more\x00",
    )
    subject = render("invoice_sent", hostile).subject
    assert not re.search(r"[\r\n\x00\x85\u2028\u2029]", subject)
    assert "Plumbing Bcc: victim@example.com X-Evil: 1 more" in subject
    long = render("invoice_sent", replace(SAMPLE, service="x" * 500)).subject
    assert len(long) == SUBJECT_LIMIT and long.endswith("…")


def test_only_web_links_are_offered() -> None:
    assert safe_url("https://invoice.stripe.com/i/x") == "https://invoice.stripe.com/i/x"
    assert safe_url("http://127.0.0.1:12111/invoice/in_1") == "http://127.0.0.1:12111/invoice/in_1"
    for bad in ("javascript:alert(1)", "data:text/html,x", "https://a.example/\nBcc: x", None, ""):
        assert safe_url(bad) is None
    email = render("invoice_sent", replace(SAMPLE, pay_url=safe_url("javascript:alert(1)")))
    assert "javascript" not in email.html and "nothing to pay" in email.text


def test_names_become_single_lines() -> None:
    assert one_line(" Ann\r\n  Lee\t\u2028\u200bX ") == "Ann Lee X"
    assert one_line(None) == ""


def test_an_unknown_kind_gets_the_generic_notice_with_its_notification_text() -> None:
    facts = replace(SAMPLE, title="Your job was rescheduled", body="New date:\nMonday")
    email = render("job_rescheduled", facts)
    assert email.subject == "Your job was rescheduled (job #1042)"
    assert "New date:\nMonday" in email.text
    assert "$150.00" in email.text and "Rivera Plumbing & Heating" in visible(email.html)


def test_the_preview_is_for_admins_and_knows_its_kinds() -> None:
    for role in ("provider", "customer", "finance"):
        with pytest.raises(Forbidden):
            preview(Actor(role, 1), "invoice_sent")
    with pytest.raises(InvalidInput, match="not a kind of e-mail"):
        preview(ADMIN, "nonsense")
    assert isinstance(sample_for("reminder"), EmailFacts) and sample_for("reminder").days == 3
