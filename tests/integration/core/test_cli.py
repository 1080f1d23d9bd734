"""`python -m core.cli` end to end: in-process through `main()`, and once as a real process.

The CLI reads its settings from the environment, so each test points DATABASE_URL at the
test database and the Stripe variables at the sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

import core.billing.invoicing
from core.cli import main
from core.config import PROJECT_ROOT, get_settings
from core.db.models import Base, Job, Notification, Payment
from core.db.session import make_engine, make_session_factory, session_scope
from core.money import MAX_PRICE_CENTS
from tests.support.factories import marketplace
from tests.support.sandbox import SandboxControl

CLI_KEY = "sk_test_x"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    """Runs `main()` with captured output, against one database and the sandbox."""

    capsys: pytest.CaptureFixture[str]
    sessions: sessionmaker[Session]
    database_url: str

    def __call__(self, *args: str) -> Run:
        self.capsys.readouterr()  # the call's own output only, not log lines before it
        code = main(list(args))
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def refused(self, *args: str) -> Run:
        """Arguments argparse refuses: it exits with status 2 before touching anything."""
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as caught:
            main(list(args))
        captured = self.capsys.readouterr()
        return Run(int(caught.value.code or 0), captured.out, captured.err)


def point_cli_at(monkeypatch: pytest.MonkeyPatch, database_url: str, api_base: str) -> None:
    for name in ("STRIPE_WEBHOOK_SECRET", "CURRENCY", "INVOICE_DAYS_UNTIL_DUE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("STRIPE_SECRET_KEY", CLI_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", api_base)


@pytest.fixture
def cli(
    database_url: str,
    sandbox: SandboxControl,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Cli]:
    point_cli_at(monkeypatch, database_url, sandbox.base)
    get_settings.cache_clear()
    engine = make_engine(database_url)
    try:
        yield Cli(capsys, make_session_factory(engine), database_url)
    finally:
        engine.dispose()
        get_settings.cache_clear()


@dataclass(frozen=True)
class People:
    customer: int
    provider: int
    service: int


@pytest.fixture
def people(cli: Cli) -> People:
    with session_scope(cli.sessions) as session:
        customer, provider, service = marketplace(session)
        return People(customer.id, provider.id, service.id)


def new_job_id(cli: Cli, people: People, price: int = 15000) -> int:
    run = cli(
        "create-job",
        "--customer",
        str(people.customer),
        "--provider",
        str(people.provider),
        "--service",
        str(people.service),
        "--price",
        str(price),
        "--json",
    )
    assert run.code == 0, run.err
    return int(run.json()["job_id"])


def completed_job(cli: Cli, people: People, price: int = 15000) -> tuple[int, dict[str, Any]]:
    job_id = new_job_id(cli, people, price)
    run = cli("complete-job", str(job_id), "--json")
    assert run.code == 0, run.err
    return job_id, run.json()["invoice"]


def job_row(cli: Cli, job_id: int) -> tuple[str, int, str, int]:
    with session_scope(cli.sessions) as session:
        job = session.get(Job, job_id)
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        assert job is not None
        return job.status, job.price, payment.status, payment.amount


def job_count(cli: Cli) -> int:
    with session_scope(cli.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


# init-db and seed-demo


def test_init_db_creates_the_schema_in_a_new_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fresh" / "app.db"
    point_cli_at(monkeypatch, f"sqlite:///{path}", "http://127.0.0.1:9")
    get_settings.cache_clear()
    try:
        assert main(["init-db"]) == 0
        assert "newest schema" in capsys.readouterr().out
        assert main(["init-db"]) == 0  # a second run is harmless
    finally:
        get_settings.cache_clear()
    engine = make_engine(f"sqlite:///{path}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == {table.name for table in Base.metadata.sorted_tables} | {"alembic_version"}


def test_init_db_keeps_existing_data(cli: Cli, people: People) -> None:
    job_id = new_job_id(cli, people)

    run = cli("init-db")

    assert run.code == 0
    assert "newest schema" in run.out
    assert job_row(cli, job_id) == ("new", 15000, "pending", 0)


def test_seed_demo_seeds_once(cli: Cli) -> None:
    run = cli("seed-demo", "--jobs", "20")

    assert run.code == 0, run.err
    assert run.out.startswith("Seeded 6 providers, 24 customers, 9 services and 20 jobs (")
    assert job_count(cli) == 20

    again = cli("seed-demo", "--jobs", "20")

    assert again.code == 0
    assert "already has jobs; nothing seeded" in again.out
    assert job_count(cli) == 20


def test_seed_demo_refuses_a_non_positive_job_count(cli: Cli) -> None:
    assert cli.refused("seed-demo", "--jobs", "0").code == 2
    assert job_count(cli) == 0


# create-job


def test_create_job_prints_its_id(cli: Cli, people: People) -> None:
    run = cli(
        "create-job",
        "--customer",
        str(people.customer),
        "--provider",
        str(people.provider),
        "--service",
        str(people.service),
        "--price",
        "12500",
        "--description",
        "Leaking tap",
    )

    assert run.code == 0, run.err
    with session_scope(cli.sessions) as session:
        job = session.scalars(select(Job)).one()
        assert (job.customer_id, job.provider_id, job.service_id) == (
            people.customer,
            people.provider,
            people.service,
        )
        assert (job.price, job.status, job.description) == (12500, "new", "Leaking tap")
    assert run.out == f"Created job #{job.id} (new).\n"
    assert job_row(cli, job.id) == ("new", 12500, "pending", 0)


def test_create_job_json_is_stable(cli: Cli, people: People) -> None:
    first = new_job_id(cli, people)
    run = cli(
        "create-job",
        "--json",
        "--customer",
        str(people.customer),
        "--provider",
        str(people.provider),
        "--service",
        str(people.service),
        "--price",
        "100",
    )

    assert run.code == 0
    assert run.json() == {"job_id": first + 1, "status": "new"}
    assert run.out == json.dumps({"job_id": first + 1, "status": "new"}, indent=2) + "\n"


# complete-job, show-job


def test_complete_job_prints_the_invoice_link(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id = new_job_id(cli, people, 15000)

    run = cli("complete-job", str(job_id))

    assert run.code == 0, run.err
    invoices = sandbox.client.v1.invoices.list(params={"limit": 10}).data
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice.status == "open"
    assert invoice.amount_due == 15000
    assert invoice.metadata is not None and invoice.metadata["job_id"] == str(job_id)
    assert invoice.hosted_invoice_url
    assert run.out.startswith(f"Job #{job_id} completed.\n")
    assert f"pay: {invoice.hosted_invoice_url}" in run.out
    assert f"pdf: {invoice.invoice_pdf}" in run.out
    assert "$150.00" in run.out
    assert job_row(cli, job_id) == ("completed", 15000, "pending", 15000)


def test_complete_job_json(cli: Cli, people: People, sandbox: SandboxControl) -> None:
    job_id = new_job_id(cli, people, 9900)

    run = cli("complete-job", str(job_id), "--json")

    assert run.code == 0, run.err
    data = run.json()
    assert set(data) == {"job_id", "status", "invoice"}
    assert (data["job_id"], data["status"]) == (job_id, "completed")
    invoice = data["invoice"]
    assert set(invoice) == {
        "job_id",
        "invoice_id",
        "status",
        "number",
        "amount_due",
        "amount_paid",
        "currency",
        "due_date",
        "hosted_invoice_url",
        "invoice_pdf",
        "overdue",
    }
    assert invoice["status"] == "open"
    assert (invoice["amount_due"], invoice["amount_paid"], invoice["currency"]) == (9900, 0, "usd")
    assert invoice["overdue"] is False
    remote = sandbox.client.v1.invoices.retrieve(invoice["invoice_id"])
    assert remote.hosted_invoice_url == invoice["hosted_invoice_url"]
    assert remote.number == invoice["number"]


def test_complete_job_twice_is_refused(cli: Cli, people: People, sandbox: SandboxControl) -> None:
    job_id, _ = completed_job(cli, people)

    run = cli("complete-job", str(job_id))

    assert run.code == 1
    assert f"Job #{job_id} is completed" in run.err
    assert len(sandbox.client.v1.invoices.list(params={"limit": 10}).data) == 1


def test_complete_job_as_another_provider_is_not_found(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id = new_job_id(cli, people)

    run = cli("complete-job", str(job_id), "--provider", str(people.provider + 1))

    assert run.code == 1
    assert f"No job #{job_id}" in run.err
    assert job_row(cli, job_id) == ("new", 15000, "pending", 0)
    assert sandbox.client.v1.invoices.list(params={"limit": 10}).data == []


def test_show_job_json(cli: Cli, people: People) -> None:
    job_id, invoice = completed_job(cli, people, 15000)

    run = cli("show-job", str(job_id), "--json")

    assert run.code == 0, run.err
    data = run.json()
    assert set(data) == {"job", "payment", "invoice", "invoice_status", "money_back"}
    assert data["invoice_status"] == "open" and data["money_back"]["refunds"] == []
    assert data["job"]["id"] == job_id
    assert data["job"]["status"] == "completed"
    assert data["job"]["price"] == 15000
    assert data["job"]["service"]["name"] == "Plumbing"
    assert data["job"]["customer"]["id"] == people.customer
    assert data["job"]["provider"]["id"] == people.provider
    assert data["job"]["completed_at"] is not None and data["job"]["paid_at"] is None
    assert data["payment"]["amount"] == 15000
    assert data["payment"]["status"] == "pending"
    assert data["invoice"]["invoice_id"] == invoice["invoice_id"]
    assert data["invoice"]["status"] == "open"


def test_show_job_text(cli: Cli, people: People) -> None:
    job_id = new_job_id(cli, people, 15000)

    before = cli("show-job", str(job_id))

    assert before.code == 0, before.err
    assert f"Job #{job_id} · Plumbing (Home Repair) · new" in before.out
    assert "price:    $150.00" in before.out
    assert "invoice:  none" in before.out

    completed_id, invoice = completed_job(cli, people)
    after = cli("show-job", str(completed_id))

    assert after.code == 0, after.err
    assert "is open" in after.out
    assert invoice["hosted_invoice_url"] in after.out
    assert f"due {invoice['due_date'][:10]}" in after.out
    assert "(overdue)" not in after.out


def test_show_job_marks_an_invoice_past_its_due_date_overdue(
    cli: Cli, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id, invoice = completed_job(cli, people)
    due = datetime.fromisoformat(invoice["due_date"])
    monkeypatch.setattr(core.billing.invoicing, "utcnow", lambda: due + timedelta(days=1))

    run = cli("show-job", str(job_id))

    assert run.code == 0, run.err
    assert f"is open (overdue): $150.00, due {due:%Y-%m-%d}" in run.out
    assert cli("show-job", str(job_id), "--json").json()["invoice"]["overdue"] is True


# pay-test-invoice, resend-invoice, send-invoice


def test_pay_test_invoice_declined_then_visa(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id, invoice = completed_job(cli, people)

    declined = cli("pay-test-invoice", str(job_id), "--card", "declined")

    assert declined.code == 1
    assert "declined" in declined.err.lower()
    assert declined.err.startswith("error: ")
    assert declined.out == ""
    assert sandbox.client.v1.invoices.retrieve(invoice["invoice_id"]).status == "open"

    paid = cli("pay-test-invoice", str(job_id), "--card", "visa", "--json")

    assert paid.code == 0, paid.err
    assert paid.json() == {"job_id": job_id, "invoice_id": invoice["invoice_id"], "status": "paid"}
    remote = sandbox.client.v1.invoices.retrieve(invoice["invoice_id"])
    assert remote.status == "paid"
    assert remote.amount_paid == 15000


def test_pay_test_invoice_without_an_invoice(cli: Cli, people: People) -> None:
    job_id = new_job_id(cli, people)

    run = cli("pay-test-invoice", str(job_id))

    assert run.code == 1
    assert f"Job #{job_id} has no invoice to pay" in run.err


def test_resend_invoice_sends_it_again(cli: Cli, people: People, sandbox: SandboxControl) -> None:
    job_id, invoice = completed_job(cli, people)

    def sent() -> int:
        events = sandbox.client.v1.events.list(params={"type": "invoice.sent", "limit": 100})
        return len(events.data)

    before = sent()
    run = cli("resend-invoice", str(job_id))

    assert run.code == 0, run.err
    assert run.out.startswith("Sent again. Invoice ")
    assert invoice["hosted_invoice_url"] in run.out
    assert sent() == before + 1

    again = cli("resend-invoice", str(job_id), "--json")

    assert again.code == 0, again.err
    assert again.json()["invoice_id"] == invoice["invoice_id"]
    assert sent() == before + 2


def test_resend_invoice_refuses_a_paid_invoice(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id, _ = completed_job(cli, people)
    assert cli("pay-test-invoice", str(job_id)).code == 0

    run = cli("resend-invoice", str(job_id))

    assert run.code == 1
    assert "is paid; only an open one is resent" in run.err


def test_resend_invoice_without_an_invoice(cli: Cli, people: People) -> None:
    job_id = new_job_id(cli, people)

    run = cli("resend-invoice", str(job_id))

    assert run.code == 1
    assert f"Job #{job_id} has no invoice yet" in run.err


def test_send_invoice_on_a_paid_job_is_refused(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id = new_job_id(cli, people)
    with session_scope(cli.sessions) as session:
        session.execute(update(Job).where(Job.id == job_id).values(status="paid"))

    run = cli("send-invoice", str(job_id))

    assert run.code == 1
    assert run.err == f"error: Job #{job_id} cannot be invoiced: it is already paid\n"
    assert sandbox.client.v1.invoices.list(params={"limit": 10}).data == []
    assert sandbox.client.v1.customers.list(params={"limit": 10}).data == []


def test_send_invoice_on_a_new_job_is_refused(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id = new_job_id(cli, people)

    run = cli("send-invoice", str(job_id))

    assert run.code == 1
    assert "complete it first" in run.err
    assert sandbox.client.v1.invoices.list(params={"limit": 10}).data == []


def test_send_invoice_again_returns_the_same_invoice(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id, invoice = completed_job(cli, people)

    run = cli("send-invoice", str(job_id), "--json")

    assert run.code == 0, run.err
    assert run.json()["invoice_id"] == invoice["invoice_id"]
    assert len(sandbox.client.v1.invoices.list(params={"limit": 10}).data) == 1


# notifications


def test_notifications_for_a_provider_and_a_customer(cli: Cli) -> None:
    assert cli("seed-demo", "--jobs", "40").code == 0
    with session_scope(cli.sessions) as session:
        provider_id, customer_id = session.execute(
            select(Job.provider_id, Job.customer_id).where(Job.status == "paid").limit(1)
        ).one()
        expected = {
            kind: [
                note.id
                for note in session.scalars(
                    select(Notification)
                    .where(
                        Notification.recipient_kind == kind,
                        Notification.recipient_id == recipient,
                    )
                    .order_by(Notification.created_at.desc(), Notification.id.desc())
                )
            ]
            for kind, recipient in (("provider", provider_id), ("customer", customer_id))
        }

    provider_run = cli("notifications", "--provider", str(provider_id), "--json")

    assert provider_run.code == 0, provider_run.err
    items = provider_run.json()
    assert [item["id"] for item in items] == expected["provider"]
    assert {item["kind"] for item in items} == {"payment_received"}
    assert set(items[0]) == {"id", "kind", "title", "body", "job_id", "created_at", "read"}

    customer_run = cli("notifications", "--customer", str(customer_id), "--json")

    assert customer_run.code == 0, customer_run.err
    assert [item["id"] for item in customer_run.json()] == expected["customer"]

    limited = cli("notifications", "--customer", str(customer_id), "--limit", "1", "--json")
    assert [item["id"] for item in limited.json()] == expected["customer"][:1]

    text = cli("notifications", "--provider", str(provider_id))
    assert text.code == 0
    assert len(text.out.strip().splitlines()) == len(expected["provider"])
    assert "Payment Received: Payment of $" in text.out


def test_notifications_when_there_are_none(cli: Cli, people: People) -> None:
    run = cli("notifications", "--customer", str(people.customer))

    assert run.code == 0
    assert run.out == f"No notifications for customer #{people.customer}.\n"
    assert cli("notifications", "--provider", str(people.provider), "--json").json() == []


def test_notifications_needs_exactly_one_recipient(cli: Cli) -> None:
    assert cli.refused("notifications").code == 2
    assert cli.refused("notifications", "--customer", "1", "--provider", "1").code == 2


# Errors


@pytest.mark.parametrize(
    "command",
    [
        ["show-job", "999"],
        ["complete-job", "999"],
        ["send-invoice", "999"],
        ["resend-invoice", "999"],
        ["pay-test-invoice", "999"],
    ],
)
def test_unknown_job(cli: Cli, command: list[str], sandbox: SandboxControl) -> None:
    run = cli(*command)

    assert run.code == 1
    assert run.err == "error: No job #999\n"
    assert run.out == ""
    assert sandbox.client.v1.customers.list(params={"limit": 10}).data == []


@pytest.mark.parametrize(
    "arguments",
    [
        ["--customer", "{c}", "--provider", "{p}", "--service", "{s}", "--price", "-5"],
        ["--customer", "{c}", "--provider", "{p}", "--service", "{s}", "--price", "0"],
        ["--customer", "{c}", "--provider", "{p}", "--service", "{s}", "--price", "12.50"],
        ["--customer", "{c}", "--provider", "{p}", "--service", "{s}", "--price", "lots"],
        ["--provider", "{p}", "--service", "{s}", "--price", "100"],
        ["--customer", "{c}", "--provider", "{p}", "--service", "{s}"],
        ["--customer", "-1", "--provider", "{p}", "--service", "{s}", "--price", "100"],
    ],
)
def test_bad_arguments_exit_2_and_change_nothing(
    cli: Cli, people: People, arguments: list[str]
) -> None:
    filled = [
        arg.format(c=people.customer, p=people.provider, s=people.service) for arg in arguments
    ]

    run = cli.refused("create-job", *filled)

    assert run.code == 2
    assert run.err.strip()
    assert job_count(cli) == 0


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ([], "required"),
        (["no-such-command"], "invalid choice"),
        (["show-job"], "job_id"),
        (["show-job", "abc"], "not a whole number"),
        (["pay-test-invoice", "1", "--card", "amex"], "invalid choice"),
    ],
)
def test_other_bad_arguments_exit_2(cli: Cli, command: list[str], message: str) -> None:
    run = cli.refused(*command)

    assert run.code == 2
    assert message in run.err


def test_rules_that_argparse_cannot_check_exit_1_and_change_nothing(
    cli: Cli, people: People
) -> None:
    base = ["create-job", "--provider", str(people.provider), "--service", str(people.service)]

    too_dear = cli(*base, "--customer", str(people.customer), "--price", str(MAX_PRICE_CENTS + 1))
    nobody = cli(*base, "--customer", str(people.customer + 50), "--price", "100")
    long_text = cli(
        *base, "--customer", str(people.customer), "--price", "100", "--description", "x" * 2001
    )

    assert too_dear.code == nobody.code == long_text.code == 1
    assert "price must be between $0.50 (Stripe's minimum charge) and" in too_dear.err
    assert nobody.err == f"error: No customer #{people.customer + 50}\n"
    assert "2000 characters" in long_text.err
    assert job_count(cli) == 0


# cancel-job


def test_cancel_job_previews_then_cancels_and_voids_the_invoice(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id, invoice = completed_job(cli, people)

    preview = cli("cancel-job", str(job_id), "--reason", "customer moved", "--preview")

    assert preview.code == 0, preview.err
    assert preview.out == (
        "Preview only: nothing was changed.\n"
        "  Job: completed → cancelled\n"
        f"  Invoice: {invoice['invoice_id']} voided\n"
    )
    assert job_row(cli, job_id)[0] == "completed"

    done = cli("cancel-job", str(job_id), "--reason", "customer moved", "--json")

    assert done.code == 0, done.err
    assert done.json() == {
        "job_id": job_id,
        "applied": True,
        "finished": True,
        "changes": ["Job: completed → cancelled", f"Invoice: {invoice['invoice_id']} voided"],
        "message": f"Job #{job_id} is cancelled; invoice {invoice['invoice_id']} can no longer "
        "be paid.",
    }
    assert job_row(cli, job_id) == ("cancelled", 15000, "pending", 15000)
    assert sandbox.client.v1.invoices.retrieve(invoice["invoice_id"]).status == "void"


def test_cancel_job_whose_void_fails_exits_1_until_run_again(
    cli: Cli, people: People, sandbox: SandboxControl
) -> None:
    job_id, invoice = completed_job(cli, people)
    sandbox.fault("/v1/invoices/*/void", method="POST", status=500, count=3)

    half = cli("cancel-job", str(job_id), "--reason", "duplicate")

    assert half.code == 1
    assert "is still payable in Stripe" in half.out
    again = cli("cancel-job", str(job_id), "--reason", "duplicate")
    assert again.code == 0, again.err
    assert sandbox.client.v1.invoices.retrieve(invoice["invoice_id"]).status == "void"


def test_cancel_job_refuses_a_paid_job_and_needs_a_reason(cli: Cli, people: People) -> None:
    job_id, _ = completed_job(cli, people)
    assert cli("pay-test-invoice", str(job_id)).code == 0
    with session_scope(cli.sessions) as session:  # as the webhook would have applied it
        session.execute(update(Job).where(Job.id == job_id).values(status="paid"))
        session.execute(update(Payment).where(Payment.job_id == job_id).values(status="received"))

    assert cli.refused("cancel-job", str(job_id)).code == 2
    refused = cli("cancel-job", str(job_id), "--reason", "too late")

    assert refused.code == 1
    assert refused.err == (
        f"error: Job #{job_id} is paid, and a paid job cannot be cancelled; refund the "
        "customer in Stripe instead.\n"
    )
    assert job_row(cli, job_id)[0] == "paid"


# The module entry point


def test_the_module_runs_as_a_program(cli: Cli, people: People, sandbox: SandboxControl) -> None:
    environment = {
        **os.environ,
        "DATABASE_URL": cli.database_url,
        "STRIPE_SECRET_KEY": CLI_KEY,
        "STRIPE_API_BASE": sandbox.base,
    }
    command = [
        sys.executable,
        "-m",
        "core.cli",
        "create-job",
        "--customer",
        str(people.customer),
        "--provider",
        str(people.provider),
        "--service",
        str(people.service),
        "--price",
        "4200",
    ]

    done = subprocess.run(
        command, env=environment, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    with session_scope(cli.sessions) as session:
        job = session.scalars(select(Job)).one()
    assert done.stdout == f"Created job #{job.id} (new).\n"
    assert job.price == 4200

    failed = subprocess.run(
        [sys.executable, "-m", "core.cli", "show-job", "999"],
        env=environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert failed.returncode == 1
    assert failed.stderr == "error: No job #999\n"
