"""The E-mail previews page: admins read each kind's subject, plain text and HTML (the HTML
in an isolated iframe, never in the page); providers and finance neither see nor open it."""

from __future__ import annotations

import base64

from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.identity.actor import Actor
from core.notify.email_preview import KIND_TITLES, MARKUP, preview
from core.notify.emails import KINDS
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    Small,
    nav_titles,
    open_page,
    page_app,
    refused_page,
    signed_in,
    titles,
)

ADMIN = Actor("admin")
PAGE = "email_preview.py"


def iframe_html(at: AppTest) -> str:
    """The HTML the page's iframe loads, decoded from its data: URL."""
    frames = list(at.main.get("iframe"))
    assert len(frames) == 1
    src = str(frames[0].proto.src)
    prefix = "data:text/html;charset=utf-8;base64,"
    assert src.startswith(prefix) and not frames[0].proto.srcdoc
    return base64.b64decode(src[len(prefix) :]).decode()


def codes(at: AppTest) -> list[str]:
    return [str(c.value) for c in at.code]


def test_an_admin_reads_every_kind_as_it_goes_out(staff: None) -> None:
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert nav_titles(at)[-1] == "E-mail previews"
    open_page(at, PAGE)
    assert titles(at) == ["E-mail previews"]
    picker = at.selectbox(key="email_preview_kind")
    assert list(picker.options) == [KIND_TITLES[k] for k in KINDS]
    for kind in KINDS:
        picker.set_value(kind).run()
        assert not at.exception, [e.value for e in at.exception]
        expected = preview(ADMIN, kind)  # the reminder's day picker starts at its 3 days
        assert [t.value for t in at.text] == [expected.subject]
        # st.code drops the final newline, nothing else.
        assert codes(at) == [expected.text.rstrip("\n"), expected.html.rstrip("\n")]
        assert iframe_html(at) == expected.html
        assert "#1042" in expected.subject


def test_the_reminder_preview_follows_the_days_picked(staff: None) -> None:
    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), PAGE)
    at.selectbox(key="email_preview_kind").set_value("reminder").run()
    at.number_input(key="email_preview_days").set_value(-3).run()
    assert at.text[0].value.endswith("due in 3 days")
    at.number_input(key="email_preview_days").set_value(0).run()
    assert at.text[0].value.endswith("due today")
    assert "is due today, December 5, 2026." in codes(at)[0]


def test_markup_in_the_written_fields_stays_text(staff: None) -> None:
    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), PAGE)
    at.toggle(key="email_preview_markup").set_value(True).run()
    assert not at.exception
    html = iframe_html(at)
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert MARKUP in codes(at)[0]  # the plain text says it as written
    # Nothing of the e-mail reaches the page's own markdown.
    assert all("<script>" not in str(m.value) for m in at.markdown)


def test_a_refund_previews_partial_or_whole_with_its_memo_kept_as_text(staff: None) -> None:
    at = open_page(signed_in(ADMIN_EMAIL, ADMIN_PASSWORD), PAGE)
    for kind in ("refund", "refund_recorded"):
        at.selectbox(key="email_preview_kind").set_value(kind).run()
        at.toggle(key="email_preview_whole_refund").set_value(False).run()
        assert at.text[0].value.startswith("Refund of $75.00")
        at.toggle(key="email_preview_whole_refund").set_value(True).run()
        assert at.text[0].value.startswith("Refund of $150.00")
        assert "refunded in full" in codes(at)[0]
    at.toggle(key="email_preview_markup").set_value(True).run()
    assert f"Reason: Cut short\n{MARKUP}" in codes(at)[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in iframe_html(at)
    # Only refunds have the choice.
    at.selectbox(key="email_preview_kind").set_value("dispute_opened").run()
    assert not at.exception and not [t for t in at.toggle if t.key == "email_preview_whole_refund"]


def test_providers_and_finance_neither_see_nor_open_it(small: Small, staff: None) -> None:
    for email, password in ((small.email, small.password), (FINANCE_EMAIL, FINANCE_PASSWORD)):
        alone = refused_page(email, password, PAGE, "E-mail previews")
        assert not alone.exception and not alone.main.children, email


def test_signed_out_it_draws_nothing(dashboard: AppContext) -> None:
    alone = page_app(PAGE).run()
    assert not alone.exception and not alone.main.children
