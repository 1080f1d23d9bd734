"""SMTP_URL and MAIL_FROM as settings, and the delivery worker's pure rules: backoff,
Message-ID, what counts as an address."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from pydantic import SecretStr, ValidationError

from core.config import Settings, SmtpServer, parse_smtp_url
from core.notify.delivery import FIRST_DELAY, LONGEST_DELAY, backoff, is_address, message_id
from core.notify.outbox import EMAILED_KINDS, is_emailed


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 25, False, False, None, None)),
        (
            "smtp://user:p%40ss%3Aword@mail.example.com:587?starttls=1",
            SmtpServer("mail.example.com", 587, False, True, "user", "p@ss:word"),
        ),
        (
            "smtps://me%40example.com:secret@smtp.example.com?timeout=5",
            SmtpServer("smtp.example.com", 465, True, False, "me@example.com", "secret", 5.0),
        ),
    ],
)
def test_smtp_urls_are_read_with_their_defaults(url: str, expected: SmtpServer) -> None:
    server = parse_smtp_url(url)
    assert server == expected
    assert server.password == expected.password


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user:hunter2@mail.example.com", "must start with smtp:// or smtps://"),
        ("smtp://user:hunter2@", "names no host"),
        ("smtp://user:hunter2@mail.example.com:99999", "invalid port"),
        ("smtp://user:hunter2@mail.example.com?tls=1", "unknown options: tls"),
        ("smtp://user:hunter2@mail.example.com?starttls=maybe", "starttls must be 1 or 0"),
        ("smtps://user:hunter2@mail.example.com?starttls=1", "smtps:// is TLS already"),
        ("smtp://user:hunter2@mail.example.com?timeout=soon", "timeout must be a number"),
    ],
)
def test_a_bad_smtp_url_is_refused_without_repeating_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        parse_smtp_url(url)
    assert "hunter2" not in str(refused.value)


def test_the_password_shows_nowhere_but_in_the_server_itself() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        smtp_url=SecretStr("smtp://mailer:hunter2@mail.example.com:587?starttls=1"),
    )
    server = settings.smtp
    assert server is not None and server.password == "hunter2"
    shown = repr(settings) + str(settings) + repr(server) + server.describe()
    assert "hunter2" not in shown
    assert server.describe() == "smtp://mailer@mail.example.com:587 (STARTTLS)"


def test_no_or_an_empty_smtp_url_means_not_configured() -> None:
    assert Settings(_env_file=None).smtp is None  # type: ignore[call-arg]
    assert Settings(_env_file=None, smtp_url=SecretStr(" ")).smtp is None  # type: ignore[call-arg]


def test_mail_from_must_be_an_address() -> None:
    with pytest.raises(ValidationError, match="MAIL_FROM must be an address"):
        Settings(_env_file=None, mail_from="Marketplace")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, mail_from="a@b.example\nBcc: x@y.example")  # type: ignore[call-arg]


def test_backoff_doubles_up_to_its_ceiling_with_jitter() -> None:
    rng = random.Random(7)
    for attempts in range(1, 15):
        ceiling = min(LONGEST_DELAY, FIRST_DELAY * 2 ** (attempts - 1))
        delays = [backoff(attempts, rng) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff(1, rng) <= FIRST_DELAY
    assert backoff(100, rng) <= LONGEST_DELAY
    assert backoff(100, rng) >= timedelta(hours=1)


def test_a_message_id_is_the_same_for_a_row_every_time() -> None:
    first = message_id(7, "notification:12", "Marketplace <no-reply@marketplace.example>")
    assert first == "<email-7.notification-12@marketplace.example>"
    assert message_id(7, "notification:12", "no-reply@marketplace.example") == first
    assert message_id(8, "reminder:in_1:-3", "x@a.example") == "<email-8.reminder-in-1-3@a.example>"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("ann@example.com", True),
        ("o'brien+jobs@mail.example.co.uk", True),
        ("", False),
        ("ann", False),
        ("ann@", False),
        ("@example.com", False),
        ("ann at example dot com", False),
        ("Ann <ann@example.com>", False),
        ("ann@example.com\nBcc: x@y.example", False),
        ("a@b@example.com", False),
    ],
)
def test_what_counts_as_an_address(text: str, ok: bool) -> None:
    assert is_address(text) is ok


def test_the_table_decides_which_kinds_are_emailed() -> None:
    assert {kind for kind, emailed in EMAILED_KINDS.items() if emailed} == {
        "payment_confirmed",
        "payment_received",
        "payment_failed",
        "refund",
        "refund_recorded",
        "dispute_opened",
        "dispute_won",
        "dispute_lost",
    }
    assert not is_emailed("invoice_sent")
    assert not is_emailed("a_kind_nobody_listed")
