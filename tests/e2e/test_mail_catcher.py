"""`make run` keeps its e-mail on the machine: the catcher's folder fills with the
sandbox's e-mails (Stripe's invoice and receipt) and with ours, which the delivery worker
`make run` starts hands to the catcher; the summary says where."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from tests.e2e.conftest import ROOT, LiveSystem

WAIT_SECONDS = 60.0  # the demo's worker passes every 2 s, on a busy 2-core machine


def cli(system: LiveSystem, *arguments: str) -> str:
    """A CLI command against the run, with the settings its summary prints for it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    environment.update(
        STRIPE_API_BASE=system.sandbox,
        DATABASE_URL=f"sqlite:///{system.data_dir / 'app.db'}",
        DEMO_CLOCK_FILE=str(system.data_dir / "clock.json"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def caught(folder: Path) -> list[EmailMessage]:
    messages = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def test_a_paid_job_is_mailed_by_the_sandbox_and_by_us(live_system: LiveSystem) -> None:
    folder = live_system.data_dir / "mail"
    summary = live_system.log.read_text(errors="replace")
    assert f"E-mail              {folder}/*.eml" in summary

    created = cli(
        live_system,
        "create-job",
        "--customer",
        "1",
        "--provider",
        "1",
        "--service",
        "1",
        "--price",
        "15000",
    )
    found = re.search(r"job #(\d+)", created)
    assert found is not None, created
    job = found.group(1)
    cli(live_system, "complete-job", job)
    cli(live_system, "pay-test-invoice", job)

    def stripe_receipt(message: EmailMessage) -> bool:
        body = message.get_body(preferencelist=("plain",))
        return (
            "stripe.example" in str(message["From"])
            and str(message["Subject"]).startswith("Your receipt from ")
            and body is not None
            and f"job #{job}" in body.get_content()  # in the invoice's memo
        )

    def ours(message: EmailMessage) -> bool:
        return str(message["Subject"]).startswith(f"Payment received for job #{job} ")

    deadline = time.monotonic() + WAIT_SECONDS
    messages = caught(folder)
    while not (any(map(stripe_receipt, messages)) and any(map(ours, messages))):
        assert time.monotonic() < deadline, [str(m["Subject"]) for m in messages[-5:]]
        time.sleep(0.5)  # another process writes the files; nothing to wait on but them
        messages = caught(folder)
    invoices = [m for m in messages if str(m["Subject"]).startswith("New invoice from ")]
    assert invoices and all("stripe.example" in str(m["From"]) for m in invoices)
