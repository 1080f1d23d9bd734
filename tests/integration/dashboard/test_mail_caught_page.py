"""The Mail caught page: with a catcher's folder configured (make run), admins list the
caught e-mails newest first and read one's text, all of it kept as text; without the
folder, or for finance, there is no such page."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from core.context import AppContext
from core.db.session import session_scope
from core.identity.accounts import create_account
from mailcatcher.catcher import FolderHandler
from tests.integration.dashboard.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FINANCE_EMAIL,
    FINANCE_PASSWORD,
    nav_titles,
    open_page,
    signed_in,
    titles,
)

PAGE = "mail_caught.py"
MARKUP_SUBJECT = "New invoice from **Bob** <b>Plumbing</b>"
MARKUP_TO = "Ann **Example** <ann@example.com>"


@pytest.fixture
def staff(dashboard: AppContext) -> None:
    with session_scope(dashboard.sessions) as session:
        create_account(
            session,
            username=ADMIN_EMAIL,
            display_name="Alex",
            role="admin",
            password=ADMIN_PASSWORD,
        )
        create_account(
            session,
            username=FINANCE_EMAIL,
            display_name="Fran",
            role="finance",
            password=FINANCE_PASSWORD,
        )


def caught(folder: Path, subject: str, to: str, text: str, at: datetime) -> None:
    message = EmailMessage()
    message["From"] = "Marketplace <no-reply@marketplace.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Wed, 02 Dec 2026 04:00:00 +0000"
    message.set_content(text)
    FolderHandler(folder).keep(message.as_bytes(), at)


@pytest.fixture
def mail_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "mail"
    caught(
        folder,
        "Your receipt",
        "ann@example.com",
        "Paid, thanks.",
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    caught(
        folder,
        MARKUP_SUBJECT,
        MARKUP_TO,
        "Pay **now**: <a>",
        datetime(2026, 12, 2, tzinfo=UTC),
    )
    monkeypatch.setenv("MAIL_CATCHER_DIR", str(folder))
    return folder


def test_an_admin_lists_the_caught_mail_newest_first_and_reads_it_as_text(
    staff: None, mail_folder: Path
) -> None:
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert nav_titles(at)[-1] == "Mail caught"
    at = open_page(at, PAGE)
    assert titles(at) == ["Mail caught"]
    table = at.dataframe[0].value
    assert list(table["Subject"]) == [MARKUP_SUBJECT, "Your receipt"]
    assert list(table["To"]) == [MARKUP_TO, "ann@example.com"]
    assert list(table["Date"]) == ["2026-12-02 04:00:00 UTC"] * 2  # "+0000", in words
    texts = [t.value for t in at.text]
    assert any(f"Subject: {MARKUP_SUBJECT}" in t for t in texts)  # the newest, unrendered
    assert any(t.strip() == "Pay **now**: <a>" for t in texts)

    at.session_state["mail_caught_table"] = {"selection": {"rows": [1]}}
    at.run()
    assert any(t.strip() == "Paid, thanks." for t in (t.value for t in at.text))


def test_without_a_catcher_folder_there_is_no_page(
    staff: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAIL_CATCHER_DIR", raising=False)
    at = signed_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert "Mail caught" not in nav_titles(at)


def test_finance_has_no_page(staff: None, mail_folder: Path) -> None:
    at = signed_in(FINANCE_EMAIL, FINANCE_PASSWORD)
    assert "Mail caught" not in nav_titles(at)
