"""Text that customers, providers, admins or Stripe wrote is shown as text: markdown and
HTML put into every free-text field come out as their characters, never as a link, an
image or a tag. Each markdown element the page sends is rendered with a CommonMark
renderer (markdown-it, HTML on) to see what a browser would get."""

from __future__ import annotations

import re
from typing import Any

import pytest
from markdown_it import MarkdownIt
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from core.context import AppContext
from core.db.models import Account, Customer, Job, Service, ServiceProvider
from core.db.session import session_scope
from core.notify import notifications
from dashboard.components.safe_text import WORD_JOINER, md
from tests.integration.dashboard.conftest import Small, open_page, signed_in

LINK = "[Click to confirm](http://evil.example/login)"
IMAGE = "![x](http://evil.example/pixel.png)"
HTML = "<img src=http://evil.example/i.png><script>alert(1)</script><b>bold</b>"
DIRECTIVE = ":red[alarm] :material/warning: $x^2$ **loud**"
INJECTIONS = [LINK, IMAGE, HTML, DIRECTIVE]
RENDER = MarkdownIt("commonmark", {"html": True})


def rendered(source: str) -> str:
    return RENDER.render(source)


def assert_plain(html: str) -> None:
    """Nothing the injected text asked for: no link, image, script, tag or emphasis (the
    page's own bold labels are allowed; the injected `**loud**` is not)."""
    for tag in ("<a ", "<img", "<script", "<b>", "<strong>loud", "<em>"):
        assert tag not in html, html


@pytest.mark.parametrize("text", INJECTIONS)
def test_md_renders_exactly_the_characters_given(text: str) -> None:
    html = rendered(md(text))
    assert_plain(html)
    # What remains once the paragraph is stripped is the text itself, entity-escaped.
    inner = html.removeprefix("<p>").removesuffix("</p>\n")
    assert inner.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace(
        "&amp;", "&"
    ) == text.replace("://", ":" + WORD_JOINER + "//")


# The literal autolinks of remark-gfm (mdast-util-gfm-autolink-literal), which Streamlit's
# markdown finds in the text once its escapes are read.
GFM_LITERAL_LINKS = [
    re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE),
    re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+"),
]
BARE = (
    "Call www.evil.example, https://evil.example/login or pay@evil.example (WWW.x.example), "
    "_www.under.example, mailto:a@b.example, xmpp:c@d.example"
)


def test_bare_addresses_stay_text() -> None:
    text = re.sub(r"\\(.)", r"\1", md(BARE))  # what remark reads once escapes are gone
    assert [p.pattern for p in GFM_LITERAL_LINKS if p.search(text)] == []
    assert text.replace(WORD_JOINER, "") == BARE  # nothing else changed
    assert md("a.b@c") == "a\\.b\\@" + WORD_JOINER + "c"


def markdown_sources(at: AppTest) -> list[str]:
    """The markdown of every element that renders it: markdown, captions, alerts, titles."""
    found: list[Any] = [
        *at.markdown,
        *at.caption,
        *at.success,
        *at.error,
        *at.info,
        *at.warning,
        *at.subheader,
        *at.title,
    ]
    return [str(element.value) for element in found]


def poison(ctx: AppContext, small: Small) -> None:
    """Every free-text field the provider's pages show, set to markup."""
    with session_scope(ctx.sessions) as session:
        session.execute(
            update(Job).where(Job.id == small.job_id).values(description=f"{LINK} {IMAGE}")
        )
        session.execute(update(Customer).where(Customer.id == small.customer_id).values(name=HTML))
        session.execute(
            update(ServiceProvider)
            .where(ServiceProvider.id == small.provider_id)
            .values(name=DIRECTIVE)
        )
        session.execute(update(Service).where(Service.id == small.service_id).values(name=LINK))
        session.execute(
            update(Account).where(Account.username == small.email).values(display_name=IMAGE)
        )
        notifications.notify(
            session,
            recipient_kind="provider",
            recipient_id=small.provider_id,
            kind="payment_received",
            title=LINK,
            body=f"{HTML} {IMAGE}",
            job_id=small.job_id,
        )


def test_the_provider_pages_show_markup_from_every_field_as_text(
    small: Small, dashboard: AppContext
) -> None:
    poison(dashboard, small)
    at = open_page(signed_in(small.email, small.password), "my_jobs.py")
    at.session_state["jobs_table"] = {"selection": {"rows": [0]}}  # its row clicked
    at.run()
    assert not at.exception
    pages = [at]
    for page in ("notifications.py", "earnings.py", "provider_home.py"):
        other = open_page(signed_in(small.email, small.password), page)
        assert not other.exception
        pages.append(other)

    sources = [source for page in pages for source in markdown_sources(page)]
    for source in sources:
        assert_plain(rendered(source))
    joined = "\n".join(sources)
    assert md(HTML) in joined and md(LINK) in joined  # the fields were on the pages
    # The customer's description and the notification's body are plain text elements.
    texts = [str(t.value) for page in pages for t in page.text]
    assert f"{LINK} {IMAGE}" in texts
    assert f"{HTML} {IMAGE}" in texts
