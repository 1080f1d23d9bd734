"""The mail catcher keeps what it is sent as .eml files: newest last, subject readable,
the message as sent; and it stands alone, importing nothing of the application."""

from __future__ import annotations

import ast
import email
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from mailcatcher.catcher import MailCatcher, file_name

PACKAGE = Path(__file__).resolve().parents[3] / "mailcatcher"


def message(subject: str, to: str = "ann@example.com") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "Marketplace <no-reply@marketplace.example>"
    mail["To"] = to
    mail["Subject"] = subject
    mail.set_content("Your plumber is on the way.\n")
    return mail


def test_each_message_sent_becomes_an_eml_file_newest_last(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    catcher = MailCatcher(folder).start()
    try:
        with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as smtp:
            smtp.send_message(message("Invoice #12: $150.00 due"))
            smtp.send_message(message("Your receipt", to="bob@example.com"))
    finally:
        catcher.stop()
    files = sorted(path.name for path in folder.iterdir())
    assert len(files) == 2
    assert files[0].endswith("-0001-Invoice-12-150-00-due.eml")
    assert files[1].endswith("-0002-Your-receipt.eml")
    kept = email.message_from_bytes((folder / files[1]).read_bytes(), policy=default_policy)
    assert kept["To"] == "bob@example.com" and kept["Subject"] == "Your receipt"
    assert isinstance(kept, EmailMessage)
    body = kept.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().splitlines() == ["Your plumber is on the way."]


def test_names_sort_by_time_then_sequence_and_keep_the_subject_short() -> None:
    early = datetime(2026, 12, 2, 9, 59, 59, 999999, tzinfo=UTC)
    late = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)
    names = [
        file_name("b", late, 1),
        file_name("a", early, 9),
        file_name("c", late, 2),
    ]
    assert sorted(names) == [names[1], names[0], names[2]]
    assert file_name("", late, 1) == "20261202-100000-000000-0001-no-subject.eml"
    assert file_name("Ünïcode / ../../etc", late, 3).endswith("-0003-n-code-etc.eml")
    long = file_name("x" * 500, late, 1)
    assert len(long) < 100 and "/" not in long


def test_the_catcher_imports_nothing_of_the_application() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"core", "dashboard", "webhook_service", "stripe_sandbox"}, (
                    path,
                    name,
                )
