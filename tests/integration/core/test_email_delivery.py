"""E-mail through the outbox, end to end: a signed payment webhook queues the messages in its
own transaction, and the delivery worker hands them to a real SMTP server (aiosmtpd, on a
free port) exactly once, through duplicates, outages, crashes, two workers and a missing
configuration. Time is a clock the test moves; nothing waits but the SMTP exchanges."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from core.billing.webhooks import receive
from core.cli import main
from core.config import PROJECT_ROOT, Settings, get_settings
from core.context import AppContext
from core.db.models import Customer, EmailMessage, Notification, utcnow
from core.db.session import session_scope
from core.notify import notifications
from core.notify.delivery import LEASE, OUTBOX, DeliveryWorker, message_id
from tests.support.smtp import SmtpServer, free_port, running_smtp
from tests.support.webhook_events import (
    SECRET,
    Billed,
    billed_job,
    invoice_object,
    signed,
    stripe_event,
)

MAIL_FROM = "Marketplace <no-reply@marketplace.example>"
CUSTOMER, PROVIDER = "ann@example.com", "maria@example.com"


class Clock:
    """The worker's time, moved by the test; it starts a minute ahead, so that what the
    test queues is due."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def ctx(database_url: str) -> Iterator[AppContext]:
    """The database alone: these tests need no Stripe (webhooks come signed from here)."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        stripe_secret_key=SecretStr("sk_test_email"),
        stripe_webhook_secret=SecretStr(SECRET),
    )
    context = AppContext.create(settings)
    yield context
    context.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def worker_for(ctx: AppContext, clock: Clock, url: str | None, **options: Any) -> DeliveryWorker:
    ctx.settings.smtp_url = SecretStr(url) if url else None
    return DeliveryWorker(
        ctx.sessions, ctx.readers, ctx.settings.smtp, MAIL_FROM, clock=clock, **options
    )


def webhook(ctx: AppContext, event: dict[str, Any]) -> str:
    payload = json.dumps(event)
    delivery = receive(
        ctx.sessions,
        payload.encode(),
        signed(payload)["Stripe-Signature"],
        secret=SECRET,
        currency="usd",
    )
    assert delivery.status == 200, delivery.body
    return str(delivery.body["outcome"])


def paid(ctx: AppContext) -> Billed:
    billed = billed_job(ctx)
    assert webhook(ctx, stripe_event("invoice.paid", invoice_object(billed))) == "applied"
    return billed


def outbox(ctx: AppContext) -> list[EmailMessage]:
    with session_scope(ctx.readers) as session:
        return list(session.scalars(select(EmailMessage).order_by(EmailMessage.id)))


def recipients(smtp: SmtpServer) -> list[str]:
    return sorted(str(message["To"]) for message in smtp.messages)


# Queued with the notification, sent once


def test_a_paid_invoice_queues_and_sends_one_email_to_each_side(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    billed = paid(ctx)

    rows = outbox(ctx)
    with session_scope(ctx.readers) as session:
        notes = {
            n.id: n
            for n in session.scalars(
                select(Notification).where(Notification.job_id == billed.job_id)
            )
        }
    assert sorted((r.kind, r.to_address, r.status, r.job_id) for r in rows) == [
        ("payment_confirmed", CUSTOMER, "queued", billed.job_id),
        ("payment_received", PROVIDER, "queued", billed.job_id),
    ]
    assert {r.message_key for r in rows} == {f"notification:{i}" for i in notes}
    assert all(notes[r.notification_id or 0].kind == r.kind for r in rows)

    report = worker_for(ctx, clock, smtp.url).deliver_due()

    assert (report.claimed, report.sent, report.retrying, report.failed) == (2, 2, 0, 0)
    assert recipients(smtp) == [CUSTOMER, PROVIDER]
    by_id = {str(m["Message-ID"]): m for m in smtp.messages}
    for row in outbox(ctx):
        assert row.status == "sent" and row.attempts == 1
        assert row.handed_at is not None and row.sent_at is not None and row.lease_until is None
        sent = by_id[message_id(row.id, row.message_key, MAIL_FROM)]
        assert sent["To"] == row.to_address and sent["From"] == MAIL_FROM
        assert sent["Subject"] == row.subject and row.subject
        assert sent.get_body(("plain",)) is not None and sent.get_body(("html",)) is not None
    assert [envelope[0] for envelope in smtp.envelopes] == ["no-reply@marketplace.example"] * 2

    assert worker_for(ctx, clock, smtp.url).deliver_due().claimed == 0
    assert len(smtp.messages) == 2


def test_duplicate_and_reordered_webhooks_send_nothing_twice(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    billed = billed_job(ctx)
    obj = invoice_object(billed)
    first = stripe_event("invoice.paid", obj)
    worker = worker_for(ctx, clock, smtp.url)

    assert webhook(ctx, first) == "applied"
    worker.deliver_due()
    assert webhook(ctx, first) == "duplicate"
    assert webhook(ctx, stripe_event("invoice.payment_succeeded", obj)) == "already_applied"
    sent_late = invoice_object(billed, status="open")
    assert webhook(ctx, stripe_event("invoice.sent", sent_late)) != "customer_notified"
    assert webhook(ctx, stripe_event("invoice.payment_failed", sent_late)) != "customer_notified"
    worker.deliver_due()

    assert recipients(smtp) == [CUSTOMER, PROVIDER]
    assert len(outbox(ctx)) == 2


def test_only_the_kinds_in_the_table_are_emailed(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    """The invoice itself is e-mailed by Stripe; a failed payment is e-mailed by us."""
    billed = billed_job(ctx)
    waiting = invoice_object(billed, status="open")
    assert webhook(ctx, stripe_event("invoice.sent", waiting)) == "customer_notified"
    assert webhook(ctx, stripe_event("invoice.payment_failed", waiting)) == "customer_notified"

    worker_for(ctx, clock, smtp.url).deliver_due()

    assert [(r.kind, r.to_address, r.status) for r in outbox(ctx)] == [
        ("payment_failed", CUSTOMER, "sent")
    ]
    assert recipients(smtp) == [CUSTOMER]


def test_notify_queues_an_email_too_unless_told_not_to(ctx: AppContext) -> None:
    billed = billed_job(ctx)
    with session_scope(ctx.sessions) as session:
        for email in (True, False):
            notifications.notify(
                session,
                recipient_kind="provider",
                recipient_id=billed.provider_id,
                kind="payment_received",
                title="Payment Received",
                body="Paid",
                job_id=billed.job_id,
                email=email,
            )
    assert [(r.kind, r.to_address) for r in outbox(ctx)] == [("payment_received", PROVIDER)]


def test_a_rolled_back_notification_leaves_no_email(ctx: AppContext) -> None:
    billed = billed_job(ctx)
    with pytest.raises(RuntimeError), session_scope(ctx.sessions) as session:
        notifications.notify_all(
            session,
            [
                notifications.Note(
                    "customer", billed.customer_id, "payment_confirmed", "t", "b", None
                )
            ],
        )
        raise RuntimeError("the webhook's transaction fails after notifying")
    assert outbox(ctx) == []


# Failures


def test_smtp_down_then_up_delivers_every_message_once(ctx: AppContext, clock: Clock) -> None:
    port = free_port()  # nothing listens there yet
    paid(ctx)
    worker = worker_for(ctx, clock, f"smtp://127.0.0.1:{port}")

    report = worker.deliver_due()

    assert (report.claimed, report.retrying, report.sent) == (2, 2, 0)
    rows = outbox(ctx)
    assert {(r.status, r.attempts) for r in rows} == {("queued", 1)}
    assert all("could not reach smtp://127.0.0.1" in (r.last_error or "") for r in rows)
    assert all(r.next_attempt_at > clock.now for r in rows)
    assert worker.deliver_due().claimed == 0  # not due again before its backoff

    with running_smtp(port) as smtp:
        clock.advance(timedelta(minutes=5))
        report = worker.deliver_due()
        assert worker.deliver_due().claimed == 0

    assert (report.sent, report.retrying) == (2, 0)
    assert recipients(smtp) == [CUSTOMER, PROVIDER]
    assert {(r.status, r.attempts) for r in outbox(ctx)} == {("sent", 2)}


def test_a_pass_that_cannot_reach_the_server_ends_there(ctx: AppContext, clock: Clock) -> None:
    paid(ctx)
    worker = worker_for(ctx, clock, f"smtp://127.0.0.1:{free_port()}", batch_size=1)

    report = worker.deliver_due()

    assert (report.claimed, report.retrying, report.unreachable) == (1, 1, True)
    assert sorted((r.status, r.attempts) for r in outbox(ctx)) == [("queued", 0), ("queued", 1)]


def test_starttls_asked_of_a_server_without_it_is_not_sent_in_the_clear(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    paid(ctx)

    report = worker_for(ctx, clock, f"{smtp.url}?starttls=1").deliver_due()

    assert (report.retrying, report.unreachable) == (2, True)
    assert all("STARTTLS extension not supported" in (r.last_error or "") for r in outbox(ctx))
    assert smtp.messages == []


def test_a_temporary_refusal_is_retried_until_the_attempts_run_out(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    smtp.refuse(CUSTOMER, "450 4.2.1 Mailbox busy, try later")
    paid(ctx)
    worker = worker_for(ctx, clock, smtp.url, max_attempts=3)

    for _ in range(3):
        worker.deliver_due()
        clock.advance(timedelta(hours=3))
    assert worker.deliver_due().claimed == 0

    state = {r.to_address: (r.status, r.attempts, r.last_error) for r in outbox(ctx)}
    assert state[PROVIDER][:2] == ("sent", 1)
    assert state[CUSTOMER][:2] == ("failed", 3)
    assert "gave up after 3 attempts" in str(state[CUSTOMER][2])
    assert "450 4.2.1 Mailbox busy" in str(state[CUSTOMER][2])
    assert recipients(smtp) == [PROVIDER]


def test_a_permanent_550_fails_the_message_with_the_reason(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    smtp.refuse(CUSTOMER, "550 5.1.1 No such mailbox")
    paid(ctx)
    worker = worker_for(ctx, clock, smtp.url)

    report = worker.deliver_due()
    clock.advance(timedelta(days=1))
    assert worker.deliver_due().claimed == 0  # never tried again

    assert (report.sent, report.failed) == (1, 1)
    state = {r.to_address: (r.status, r.attempts, r.last_error) for r in outbox(ctx)}
    assert state[CUSTOMER] == ("failed", 1, "recipient refused: 550 5.1.1 No such mailbox")
    assert state[PROVIDER][0] == "sent"
    assert recipients(smtp) == [PROVIDER]


def test_an_address_that_is_none_fails_without_reaching_the_server(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    billed = billed_job(ctx)
    with session_scope(ctx.sessions) as session:
        customer = session.get(Customer, billed.customer_id)
        assert customer is not None
        customer.email = "ann at example dot com"
    webhook(ctx, stripe_event("invoice.paid", invoice_object(billed)))

    worker_for(ctx, clock, smtp.url).deliver_due()

    state = {r.kind: (r.status, r.last_error) for r in outbox(ctx)}
    assert state["payment_confirmed"] == (
        "failed",
        "not an e-mail address: 'ann at example dot com'",
    )
    assert state["payment_received"][0] == "sent"
    assert recipients(smtp) == [PROVIDER]


def test_the_login_is_used_and_a_wrong_password_is_never_written_down(
    ctx: AppContext, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    paid(ctx)
    with running_smtp(login=("mailer", "right-password")) as smtp:
        wrong = smtp.url.replace("right-password", "wrong-password")
        report = worker_for(ctx, clock, wrong).deliver_due()
        assert report.retrying == 2
        errors = " ".join(r.last_error or "" for r in outbox(ctx))
        assert "535" in errors and "wrong-password" not in errors
        assert "wrong-password" not in caplog.text
        assert "wrong-password" not in repr(ctx.settings) + repr(ctx.settings.smtp)

        clock.advance(timedelta(minutes=5))
        assert worker_for(ctx, clock, smtp.url).deliver_due().sent == 2
    assert recipients(smtp) == [CUSTOMER, PROVIDER]


# Crashes and concurrency


def test_a_worker_that_died_after_claiming_is_replaced_once_its_lease_ends(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    paid(ctx)
    crashed = worker_for(ctx, clock, smtp.url)
    assert len(crashed.claim()) == 2  # ... and the process dies before handing anything over

    successor = worker_for(ctx, clock, smtp.url)
    assert successor.deliver_due().claimed == 0  # the lease still holds
    clock.advance(LEASE + timedelta(seconds=1))
    report = successor.deliver_due()

    assert (report.claimed, report.sent) == (2, 2)
    assert recipients(smtp) == [CUSTOMER, PROVIDER]
    assert {(r.status, r.attempts) for r in outbox(ctx)} == {("sent", 2)}


def test_a_worker_that_died_after_the_hand_over_is_not_sent_again(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    paid(ctx)
    crashed = worker_for(ctx, clock, smtp.url)
    handed = crashed.hand_over(crashed.claim())  # ... and the process dies before `sent`
    assert len(handed) == 2 and len(smtp.messages) == 2
    assert {(r.status, r.handed_at is not None) for r in outbox(ctx)} == {("sending", True)}

    clock.advance(LEASE + timedelta(seconds=1))
    report = worker_for(ctx, clock, smtp.url).deliver_due()

    assert (report.recovered, report.claimed, report.sent) == (2, 0, 0)
    assert len(smtp.messages) == 2
    rows = outbox(ctx)
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert all(r.sent_at == r.handed_at for r in rows)


def test_a_stop_between_two_messages_gives_back_the_one_not_tried(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    paid(ctx)
    asked = iter([False, False, True])  # the pass starts, sends one, then SIGTERM arrives

    report = worker_for(ctx, clock, smtp.url).deliver_due(should_stop=lambda: next(asked, True))

    assert (report.claimed, report.sent, report.released) == (2, 1, 1)
    assert sorted((r.status, r.attempts, r.lease_until) for r in outbox(ctx)) == [
        ("queued", 0, None),
        ("sent", 1, None),
    ]
    assert len(smtp.messages) == 1
    assert worker_for(ctx, clock, smtp.url).deliver_due().sent == 1  # the next pass sends it
    assert len(smtp.messages) == 2


def test_two_workers_at_once_send_each_message_once(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    billed = billed_job(ctx)
    count = 24
    with session_scope(ctx.sessions) as session:
        notifications.notify_all(
            session,
            [
                notifications.Note(
                    "customer", billed.customer_id, "payment_confirmed", "t", f"{n}", billed.job_id
                )
                for n in range(count)
            ],
        )
    contexts = [AppContext.create(ctx.settings) for _ in range(2)]
    workers = [worker_for(c, clock, smtp.url, batch_size=3) for c in contexts]
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def run(worker: DeliveryWorker) -> None:
        barrier.wait(timeout=10)
        sent.append(worker.deliver_due().sent)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for context in contexts:
        context.close()

    assert sum(sent) == count
    ids = [str(m["Message-ID"]) for m in smtp.messages]
    assert len(ids) == count and len(set(ids)) == count
    assert {(r.status, r.attempts) for r in outbox(ctx)} == {("sent", 1)}


# Configuration


def test_without_smtp_url_messages_wait_as_not_configured_then_go_once_configured(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    paid(ctx)

    report = worker_for(ctx, clock, None).deliver_due()

    assert (report.not_configured, report.claimed) == (2, 0)
    assert {(r.status, r.attempts, r.last_error) for r in outbox(ctx)} == {
        ("not_configured", 0, "SMTP_URL is not set")
    }
    assert smtp.messages == []

    report = worker_for(ctx, clock, smtp.url).deliver_due()

    assert report.sent == 2
    assert recipients(smtp) == [CUSTOMER, PROVIDER]
    assert {r.status for r in outbox(ctx)} == {"sent"}


def test_on_postgresql_a_claim_skips_the_rows_another_worker_holds(
    ctx: AppContext, smtp: SmtpServer, clock: Clock
) -> None:
    if ctx.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is nothing to skip")
    paid(ctx)
    held, free = [row.id for row in outbox(ctx)]
    worker = worker_for(ctx, clock, smtp.url)
    claimed: list[int] = []
    with ctx.engine.connect() as other:
        transaction = other.begin()
        other.execute(select(OUTBOX.c.id).where(OUTBOX.c.id == held).with_for_update())
        # In a thread: a claim that waited for the lock instead of skipping the row would
        # otherwise wait for ever; this way it waits only until the rollback below.
        claiming = threading.Thread(target=lambda: claimed.extend(c.id for c in worker.claim()))
        claiming.start()
        claiming.join(timeout=10)
        transaction.rollback()
    claiming.join(timeout=10)
    assert claimed == [free]


# The command


@pytest.fixture
def cli_env(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("SMTP_URL", "MAIL_FROM", "DEMO_CLOCK_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", ctx.settings.database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_deliver_once_reports_waiting_messages_then_sends_them_once_configured(
    ctx: AppContext,
    smtp: SmtpServer,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paid(ctx)

    assert main(["deliver", "--once", "--json"]) == 0
    waiting = json.loads(capsys.readouterr().out)
    assert (waiting["not_configured"], waiting["sent"], waiting["reminders"]) == (2, 0, None)

    monkeypatch.setenv("SMTP_URL", smtp.url)
    monkeypatch.setenv("MAIL_FROM", "Jobs <jobs@marketplace.example>")
    get_settings.cache_clear()
    assert main(["deliver", "--once"]) == 0
    assert capsys.readouterr().out == "E-mail: 2 sent, 0 to retry, 0 failed.\n"
    assert main(["deliver", "--once", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["claimed"] == 0

    assert recipients(smtp) == [CUSTOMER, PROVIDER]
    assert {str(m["From"]) for m in smtp.messages} == {"Jobs <jobs@marketplace.example>"}


def test_deliver_refuses_a_bad_smtp_url_in_one_line_without_the_password(
    ctx: AppContext,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SMTP_URL", "smtp://mailer:hunter2@mail.example.com?tls=yes")
    get_settings.cache_clear()

    assert main(["deliver", "--once"]) == 1

    captured = capsys.readouterr()
    assert captured.err == "error: SMTP_URL has unknown options: tls\n"
    assert "hunter2" not in captured.out + captured.err


def test_the_deliver_loop_sends_then_stops_cleanly_on_sigterm(
    ctx: AppContext, smtp: SmtpServer
) -> None:
    """The worker as it is deployed: its metrics on a port of its own, its log one JSON
    object a line."""
    paid(ctx)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SMTP_URL", "MAIL_FROM", "DEMO_CLOCK_FILE", "PROMETHEUS_MULTIPROC_DIR")
    }
    environment |= {
        "DATABASE_URL": ctx.settings.database_url,
        "SMTP_URL": smtp.url,
        "LOG_FORMAT": "json",
    }
    command = ["deliver", "--interval", "60", "--metrics-port", "0"]  # it says which it took
    worker = subprocess.Popen(
        [sys.executable, "-m", "core.cli", *command],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, worker.kill)  # a read below never waits for ever
    watchdog.start()
    try:
        assert worker.stdout is not None and worker.stderr is not None
        logged: list[dict[str, Any]] = []
        while not logged or logged[-1]["event"] != "email.pass":  # the first pass is over
            line = worker.stderr.readline()
            assert line, "the worker ended before its first pass was logged"
            logged.append(json.loads(line))
        [port] = [line["port"] for line in logged if line["event"] == "metrics.listening"]
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'jobtopaid_emails_total{result="sent"} 2.0' in scraped.splitlines()
        worker.send_signal(signal.SIGTERM)  # while it waits for its next pass
        assert worker.wait(timeout=30) == 0
        logged += [json.loads(line) for line in worker.stderr.read().splitlines()]
        assert worker.stdout.read() == ""  # every line went to the log, as JSON
    finally:
        watchdog.cancel()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert recipients(smtp) == [CUSTOMER, PROVIDER]
    handed = [line for line in logged if line["event"] == "email.handed"]
    assert len(handed) == 2 and all(line["level"] == "INFO" for line in handed)
    assert all(isinstance(line["message_id"], int) for line in handed)
    [done] = [line for line in logged if line["event"] == "email.pass"]
    assert (done["sent"], done["failed"], done["retrying"]) == (2, 0, 0)


def test_deliver_once_says_in_one_line_when_the_database_is_away(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens: no database there
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{port}/none")
    monkeypatch.delenv("SMTP_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["deliver", "--once"]) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("error: the database is unavailable: ") and err.count("\n") == 1
