"""`python -m core.cli`: the operations people script.

Errors print one clear line to stderr and exit non-zero; `--json` output is stable.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import OperationalError

from core.audit import plural
from core.billing import reminders
from core.billing.admin_actions import attach_invoice, cancel_unpaid_job
from core.billing.drift_checks import record_check
from core.billing.invoicing import InvoiceResult, resend_invoice, send_invoice
from core.billing.outcome_text import describe_outcome, sentence
from core.billing.reconcile import drift_report, parse_since
from core.billing.refund_action import RefundPreview, check_reason, preview_refund, refund_job
from core.billing.repairs import repair_all
from core.billing.replay import replay_events, replay_stored
from core.billing.stripe_gateway import TEST_PAYMENT_METHODS
from core.config import get_settings
from core.context import AppContext
from core.db.migrate import upgrade
from core.db.session import session_scope
from core.errors import AppError, InvalidInput
from core.identity.actor import SYSTEM, Actor
from core.identity.api_tokens import API_ROLES, issue_token, parse_ttl
from core.jobs.lifecycle import complete_job, create_job
from core.jobs.view import job_details
from core.money import format_cents
from core.notify import notifications
from core.notify.delivery import DeliveryReport, DeliveryWorker
from core.observability import logs, metrics
from core.seed import has_data, seed_demo

log = logging.getLogger("core.cli")  # not __name__: run with -m, that is "__main__"


def _print(data: Any, as_json: bool, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if as_json else text)


def _invoice_text(invoice: InvoiceResult) -> str:
    return _invoice_lines(invoice.to_dict())


def _invoice_lines(invoice: dict[str, Any]) -> str:
    due = f", due {invoice['due_date'][:10]}" if invoice["due_date"] else ""
    overdue = " (overdue)" if invoice["overdue"] else ""
    text = (
        f"Invoice {invoice['number'] or invoice['invoice_id']} is {invoice['status']}{overdue}: "
        f"{format_cents(invoice['amount_due'], invoice['currency'])}{due}"
    )
    if invoice["hosted_invoice_url"]:
        text += f"\n  pay: {invoice['hosted_invoice_url']}\n  pdf: {invoice['invoice_pdf']}"
    return text


def cmd_init_db(args: argparse.Namespace, ctx: AppContext) -> int:
    upgrade(ctx.settings.database_url)
    print("Database is at the newest schema.")
    return 0


def cmd_seed_demo(args: argparse.Namespace, ctx: AppContext) -> int:
    upgrade(ctx.settings.database_url)
    with session_scope(ctx.sessions) as session:
        if has_data(session):
            print("The database already has jobs; nothing seeded.")
            return 0
        summary = seed_demo(session, jobs=args.jobs)
    states = ", ".join(f"{count} {status}" for status, count in sorted(summary.by_status.items()))
    print(
        f"Seeded {summary.providers} providers, {summary.customers} customers, "
        f"{summary.services} services and {summary.jobs} jobs ({states})."
    )
    return 0


def cmd_create_job(args: argparse.Namespace, ctx: AppContext) -> int:
    with session_scope(ctx.sessions) as session:
        job = create_job(
            session,
            currency=ctx.settings.currency,
            customer_id=args.customer,
            provider_id=args.provider,
            service_id=args.service,
            price=args.price,
            description=args.description,
        )
        job_id = job.id
    _print({"job_id": job_id, "status": "new"}, args.json, f"Created job #{job_id} (new).")
    return 0


def cmd_complete_job(args: argparse.Namespace, ctx: AppContext) -> int:
    actor = Actor("provider", args.provider) if args.provider else SYSTEM
    result = complete_job(ctx, job_id=args.job_id, actor=actor)
    if result.error is not None:
        _print(
            {
                "job_id": args.job_id,
                "status": "completed",
                "invoice": None,
                "error": {
                    "code": result.error.code,
                    "step": result.error.step,
                    "message": result.error.message,
                },
            },
            args.json,
            f"Job #{args.job_id} is completed, but invoicing failed: {result.error.message}",
        )
        return 1
    assert result.invoice is not None
    _print(
        {"job_id": args.job_id, "status": "completed", "invoice": result.invoice.to_dict()},
        args.json,
        f"Job #{args.job_id} completed.\n{_invoice_text(result.invoice)}",
    )
    return 0


def cmd_send_invoice(args: argparse.Namespace, ctx: AppContext) -> int:
    invoice = send_invoice(ctx, job_id=args.job_id, actor=SYSTEM)
    _print(invoice.to_dict(), args.json, _invoice_text(invoice))
    return 0


def cmd_resend_invoice(args: argparse.Namespace, ctx: AppContext) -> int:
    invoice = resend_invoice(ctx, job_id=args.job_id, actor=SYSTEM)
    _print(invoice.to_dict(), args.json, "Sent again. " + _invoice_text(invoice))
    return 0


def cmd_show_job(args: argparse.Namespace, ctx: AppContext) -> int:
    details = job_details(ctx, job_id=args.job_id, actor=SYSTEM)
    job, payment, invoice = details["job"], details["payment"], details["invoice"]
    lines = [
        f"Job #{job['id']} · {job['service']['name']} ({job['service']['category']}) · "
        f"{job['status']}",
        f"  customer: {job['customer']['name']} (#{job['customer']['id']})",
        f"  provider: {job['provider']['name']} (#{job['provider']['id']})",
        f"  price:    {format_cents(job['price'])}",
        f"  payment:  {payment['status']} {format_cents(payment['amount'])}"
        + (f" via {payment['method']} at {payment['marked_at']}" if payment["method"] else ""),
    ]
    if invoice:
        lines.append("  " + _invoice_lines(invoice).replace("\n", "\n  "))
    else:
        lines.append("  invoice:  none")
    _print(details, args.json, "\n".join(lines))
    return 0


def cmd_pay_test_invoice(args: argparse.Namespace, ctx: AppContext) -> int:
    if not ctx.settings.stripe_key.startswith("sk_test_"):
        raise InvalidInput("pay-test-invoice only works with a test-mode key (sk_test_...)")
    details = job_details(ctx, job_id=args.job_id, actor=SYSTEM)
    invoice = details["invoice"]
    if invoice is None:
        raise InvalidInput(f"Job #{args.job_id} has no invoice to pay")
    info = ctx.gateway.pay_test_invoice(invoice["invoice_id"], card=args.card)
    _print(
        {"job_id": args.job_id, "invoice_id": info.id, "status": info.status},
        args.json,
        f"Invoice {info.number or info.id} is {info.status}.",
    )
    return 0


def cmd_notifications(args: argparse.Namespace, ctx: AppContext) -> int:
    kind, recipient = ("customer", args.customer) if args.customer else ("provider", args.provider)
    with session_scope(ctx.sessions) as session:
        rows = notifications.list_for(
            session, recipient_kind=kind, recipient_id=recipient, limit=args.limit
        )
        data: list[dict[str, Any]] = [
            {
                "id": n.id,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "job_id": n.job_id,
                "created_at": n.created_at.isoformat(),
                "read": n.read_at is not None,
            }
            for n in rows
        ]
    text = (
        "\n".join(
            f"{'  ' if item['read'] else '* '}{item['created_at'][:16]}  {item['title']}: "
            f"{item['body']}"
            for item in data
        )
        or f"No notifications for {kind} #{recipient}."
    )
    _print(data, args.json, text)
    return 0


def cmd_reconcile(args: argparse.Namespace, ctx: AppContext) -> int:
    """Exit 0 when Stripe and the database agree (after --apply, when the repairs held)."""
    since = parse_since(args.since) if args.since else None
    report = drift_report(ctx, actor=SYSTEM, since=since)
    results = []
    if args.apply and report.drifts:
        results = repair_all(ctx, report, actor=SYSTEM, reason=args.reason)
        report = drift_report(ctx, actor=SYSTEM, since=since)
    record_check(ctx, report, actor=SYSTEM)  # the overview shows the last check's count
    data = {
        "since": since.isoformat() if since else None,
        "jobs_checked": report.jobs_checked,
        "invoices_read": report.invoices_read,
        "refunds_read": report.refunds_read,
        "disputes_read": report.disputes_read,
        "repairs": [
            {"kind": r.drift.kind, "job_id": r.drift.job_id, "ok": r.ok, "message": r.message}
            for r in results
        ],
        "drift": [
            {
                "kind": d.kind,
                "job_id": d.job_id,
                "ours": d.ours,
                "stripe": d.stripes,
                "fix": d.fix,
                "invoices": list(d.invoice_ids),
                "repairable": d.repairable,
            }
            for d in report.drifts
        ],
    }
    lines = [
        f"Checked {plural(report.jobs_checked, 'job')} against "
        f"{plural(report.invoices_read, 'invoice')}, "
        f"{plural(report.refunds_read, 'refund')} and {plural(report.disputes_read, 'dispute')}."
    ]
    lines += [
        f"  {'Fixed' if r.ok else 'NOT fixed'} job #{r.drift.job_id} ({r.drift.title}): "
        + sentence(r.message)
        for r in results
    ]
    lines += [
        f"  job #{d.job_id}: {d.title}. Ours: {d.ours}. Stripe: {d.stripes}. Fix: {d.fix}"
        for d in report.drifts
    ]
    left = len(report.drifts)
    lines.append(
        "No drift." if not left else f"{plural(left, 'drift')} remain{'s' if left == 1 else ''}."
    )
    _print(data, args.json, "\n".join(lines))
    return 0 if not report.drifts else 3


def cmd_replay_events(args: argparse.Namespace, ctx: AppContext) -> int:
    if args.stored:
        if args.since:
            raise InvalidInput("--stored replays every unhandled event; it takes no --since")
        result = replay_stored(ctx, actor=SYSTEM)
    else:
        since = parse_since(args.since) if args.since else None
        result = replay_events(ctx, actor=SYSTEM, since=since)
    outcomes = (
        ", ".join(f"{n} {describe_outcome(o).lower()}" for o, n in sorted(result.outcomes.items()))
        or "none"
    )
    _print(
        {"since": result.since.isoformat(), "events": result.events, "outcomes": result.outcomes},
        args.json,
        f"Replayed {plural(result.events, 'event')} since {result.since:%Y-%m-%d %H:%M} UTC: "
        f"{outcomes}.",
    )
    return 0


def cmd_attach_invoice(args: argparse.Namespace, ctx: AppContext) -> int:
    result = attach_invoice(
        ctx, invoice_id=args.invoice_id, job_id=args.job_id, actor=SYSTEM, reason=args.reason
    )
    _print({"job_id": args.job_id, "invoice_id": args.invoice_id}, args.json, result.message)
    return 0


def cmd_cancel_job(args: argparse.Namespace, ctx: AppContext) -> int:
    """Exit 0 once the job is cancelled and no invoice of it can be paid."""
    result = cancel_unpaid_job(
        ctx, job_id=args.job_id, actor=SYSTEM, reason=args.reason, preview=args.preview
    )
    _print(
        {
            "job_id": args.job_id,
            "applied": result.applied,
            "finished": result.finished,
            "changes": result.changes,
            "message": result.message,
        },
        args.json,
        "\n".join([result.message, *(f"  {line}" for line in result.changes)]),
    )
    return 0 if result.finished else 1


def _refund_preview_text(preview: RefundPreview) -> str:
    def money(cents: int) -> str:
        return format_cents(cents, preview.currency)

    whole = "refunded in full" if preview.refunded_in_full else "partly refunded"
    checked = (
        f"\n  Stripe agrees: a credit note on invoice {preview.invoice_id} refunds it."
        if preview.stripe_checked
        else ""
    )
    return (
        f"Refund job #{preview.job_id} ({preview.service} for {preview.customer}, by "
        f"{preview.provider}):\n"
        f"  paid:              {money(preview.paid)}\n"
        f"  already refunded:  {money(preview.already_refunded)}\n"
        f"  left to refund:    {money(preview.left_to_refund)}\n"
        f"  back to customer:  {money(preview.amount)} (the job would be {whole})\n"
        f"  provider earnings: {money(preview.provider_earnings)} → "
        f"{money(preview.provider_earnings_after)}" + checked
    )


def cmd_refund(args: argparse.Namespace, ctx: AppContext) -> int:
    """Preview, then refund with --yes (or when the person at the terminal says yes); exit 1
    when nothing was refunded."""
    reason = check_reason(args.reason)
    preview = preview_refund(ctx, args.job_id, actor=SYSTEM, amount=args.amount, ask_stripe=True)
    text = _refund_preview_text(preview)
    if not args.yes:
        if args.json or not sys.stdin.isatty():
            _print(
                {"preview": preview.to_dict(), "refund": None},
                args.json,
                f"{text}\nNot refunded: add --yes to refund.",
            )
            return 1
        print(text)
        if input("Refund it? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Not refunded.")
            return 1
    result = refund_job(
        ctx,
        args.job_id,
        actor=SYSTEM,
        amount=preview.amount,
        reason=reason,
        refunded_before=preview.already_refunded,
    )
    shown = f"{text}\n{result.message}" if args.yes else result.message  # asked: shown above
    _print({"preview": preview.to_dict(), "refund": result.to_dict()}, args.json, shown)
    return 0 if result.applied else 1


def _reminder_line(reminder: reminders.DueReminder) -> str:
    passed = (
        f"; passing over days {', '.join(str(s) for s in reminder.passed_over)}"
        if reminder.passed_over
        else ""
    )
    return (
        f"job #{reminder.job_id} (customer #{reminder.customer_id}), invoice "
        f"{reminder.invoice_id}: {format_cents(reminder.amount, reminder.currency)} "
        f"{reminder.timing} (the reminder of day {reminder.step}{passed})"
    )


def cmd_remind(args: argparse.Namespace, ctx: AppContext) -> int:
    """Dry run by default; with --apply exits 1 while a Stripe send failed or waits after
    failing (the step is tried again by a later run)."""
    run = reminders.run_due_reminders(ctx, apply=args.apply)
    if not args.apply:
        lines = [f"{plural(len(run.due), 'reminder')} due (dry run: nothing sent)."]
        lines += [f"  {_reminder_line(r)}" for r in run.due]
    else:
        counts = run.counts
        lines = [
            f"{plural(counts.get('sent', 0), 'reminder')} sent, {counts.get('failed', 0)} failed, "
            f"{counts.get('waiting', 0)} waiting after a failed send, "
            f"{counts.get('stopped', 0) + counts.get('already_sent', 0)} no longer due."
        ]
        lines += [f"  {_reminder_line(o.reminder)}: {o.message}" for o in run.outcomes]
    _print(run.to_dict(), args.json, "\n".join(lines))
    return 1 if run.counts.get("failed") or run.counts.get("waiting") else 0


def _pause_text(state: reminders.PauseState) -> str:
    if not state.paused:
        return f"Reminders to customer #{state.customer_id} resumed."
    return f"Reminders to customer #{state.customer_id} paused: {state.reason}"


def _pause_data(state: reminders.PauseState) -> dict[str, Any]:
    return {
        "customer_id": state.customer_id,
        "paused": state.paused,
        "reason": state.reason,
        "paused_by": state.paused_by,
        "paused_at": state.paused_at.isoformat() if state.paused_at else None,
    }


def cmd_pause_reminders(args: argparse.Namespace, ctx: AppContext) -> int:
    state = reminders.pause_reminders(
        ctx, customer_id=args.customer_id, actor=SYSTEM, reason=args.reason
    )
    _print(_pause_data(state), args.json, _pause_text(state))
    return 0


def cmd_resume_reminders(args: argparse.Namespace, ctx: AppContext) -> int:
    state = reminders.resume_reminders(
        ctx, customer_id=args.customer_id, actor=SYSTEM, reason=args.reason
    )
    _print(_pause_data(state), args.json, _pause_text(state))
    return 0


def run_due_reminders(ctx: AppContext, now: datetime) -> dict[str, Any] | None:
    """The payment reminders due at `now`, queued before each delivery pass so that they
    go out in it; None while there is nothing to run here. This is the place where
    `core.billing.reminders.run_due_reminders(ctx, now=now)` is called."""
    run = reminders.run_due_reminders(ctx, now=now)
    return run.to_dict() if run.due else None


def _delivery_pass(
    ctx: AppContext, worker: DeliveryWorker, stop: threading.Event
) -> tuple[dict[str, Any], DeliveryReport]:
    reminder_run = run_due_reminders(ctx, worker.clock())
    report = worker.deliver_due(should_stop=stop.is_set)
    return {"reminders": reminder_run, **report.to_dict()}, report


def _delivery_text(summary: dict[str, Any], report: DeliveryReport) -> str:
    parts = [
        f"{report.sent} sent",
        f"{report.retrying} to retry",
        f"{report.failed} failed",
    ]
    if report.not_configured:
        parts.append(f"{report.not_configured} waiting for SMTP_URL")
    if report.recovered:
        parts.append(f"{report.recovered} found handed over before a stop")
    if report.released:
        parts.append(f"{report.released} left for the next pass")
    if report.unreachable:
        parts.append("the SMTP server could not be reached")
    counts = (summary["reminders"] or {}).get("counts") or {}
    if counts:
        parts.append("reminders: " + ", ".join(f"{n} {r}" for r, n in sorted(counts.items())))
    return "E-mail: " + ", ".join(parts) + "."


def cmd_deliver(args: argparse.Namespace, ctx: AppContext) -> int:
    """Send due e-mail: once (`--once`, for cron), or every `--interval` seconds until
    SIGTERM or SIGINT, which end the pass between two messages."""
    try:
        smtp = ctx.settings.smtp
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    worker = DeliveryWorker(
        ctx.sessions, ctx.readers, smtp, ctx.settings.mail_from, batch_size=args.batch
    )
    if args.metrics_port is not None:
        port = metrics.serve(args.metrics_port, args.metrics_host)
        log.info("metrics.listening", extra={"host": args.metrics_host, "port": port})
    stop = threading.Event()
    previous = {}
    if not args.once:
        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.signal(number, lambda *_: stop.set())
    try:
        while True:
            try:
                summary, report = _delivery_pass(ctx, worker, stop)
            except OperationalError as error:
                # The database is away: said in one line; a loop tries again next pass.
                reason = " ".join(str(error.orig).split())
                print(f"error: the database is unavailable: {reason}", file=sys.stderr)
                if args.once:
                    return 1
                if stop.wait(args.interval):
                    return 0
                continue
            if args.once or report.did_anything or summary["reminders"]:
                if args.json:
                    print(json.dumps(summary, sort_keys=True), flush=True)
                elif logs.log_format() == "json":
                    # A log pipeline reads one JSON object a line: the pass is one of them.
                    counts = (summary["reminders"] or {}).get("counts") or {}
                    log.info("email.pass", extra={**report.to_dict(), "reminders": counts})
                else:
                    print(_delivery_text(summary, report), flush=True)
            if args.once or stop.wait(args.interval):
                return 0
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def cmd_token(args: argparse.Namespace, ctx: AppContext) -> int:
    token = issue_token(ctx.settings, role=args.role, subject_id=args.id, ttl=parse_ttl(args.ttl))
    _print({"token": token, "role": args.role, "id": args.id, "ttl": args.ttl}, args.json, token)
    return 0


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _positive(text: str) -> int:
    value = _whole(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _port(text: str) -> int:
    value = _whole(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0 to 65535)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Any, help_text: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        if json_flag:
            sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    add("init-db", cmd_init_db, "create or migrate the database", json_flag=False)
    seed = add("seed-demo", cmd_seed_demo, "load demo data into an empty database", json_flag=False)
    seed.add_argument("--jobs", type=_positive, default=200)
    create = add("create-job", cmd_create_job, "create a new job (its payment starts pending)")
    create.add_argument("--customer", type=_positive, required=True)
    create.add_argument("--provider", type=_positive, required=True)
    create.add_argument("--service", type=_positive, required=True)
    create.add_argument("--price", type=_positive, required=True, help="in cents, e.g. 15000")
    create.add_argument("--description")
    complete = add("complete-job", cmd_complete_job, "mark a job complete and invoice it")
    complete.add_argument("job_id", type=_positive)
    complete.add_argument("--provider", type=_positive, help="act as this provider")
    for name, handler, text in (
        ("send-invoice", cmd_send_invoice, "send (or finish) the invoice of a completed job"),
        ("resend-invoice", cmd_resend_invoice, "email an open invoice again"),
        ("show-job", cmd_show_job, "show a job, its payment and its invoice"),
    ):
        add(name, handler, text).add_argument("job_id", type=_positive)
    pay = add(
        "pay-test-invoice",
        cmd_pay_test_invoice,
        "pay a job's invoice with a Stripe test card (sandbox or test mode)",
    )
    pay.add_argument("job_id", type=_positive)
    pay.add_argument("--card", choices=sorted(TEST_PAYMENT_METHODS), default="visa")
    notes = add("notifications", cmd_notifications, "list a customer's or provider's notifications")
    who = notes.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer", type=_positive)
    who.add_argument("--provider", type=_positive)
    notes.add_argument("--limit", type=_positive, default=50)
    reconcile = add(
        "reconcile", cmd_reconcile, "compare the database with Stripe; exits 3 while drift remains"
    )
    reconcile.add_argument("--since", help="7d, 24h, 30m or a date (default: everything)")
    reconcile.add_argument("--apply", action="store_true", help="repair what can be repaired")
    reconcile.add_argument(
        "--reason",
        default="scheduled reconciliation",
        help="written to the audit log with each repair",
    )
    replay = add(
        "replay-events",
        cmd_replay_events,
        "pass Stripe's events since a moment through the webhook handlers",
    )
    replay.add_argument(
        "--since",
        help="7d, 24h, 30m or a date (default: the newest event already handled, minus 10 minutes)",
    )
    replay.add_argument(
        "--stored",
        action="store_true",
        help="handle again the unhandled events kept in our database (no call to Stripe)",
    )
    attach = add(
        "attach-invoice",
        cmd_attach_invoice,
        "credit a paid Stripe invoice that names the wrong job to the right one",
    )
    attach.add_argument("invoice_id")
    attach.add_argument("job_id", type=_positive)
    attach.add_argument("--reason", required=True, help="written to the audit log")
    cancel = add(
        "cancel-job",
        cmd_cancel_job,
        "cancel a job that was not paid, voiding its open invoice in Stripe",
    )
    cancel.add_argument("job_id", type=_positive)
    cancel.add_argument("--reason", required=True, help="written to the audit log")
    cancel.add_argument("--preview", action="store_true", help="show what changes; change nothing")
    refund = add(
        "refund",
        cmd_refund,
        "give back a paid job's card payment, all that is left or --amount, by a credit note",
    )
    refund.add_argument("job_id", type=_positive)
    refund.add_argument("--amount", type=_positive, help="in cents (default: all that is left)")
    refund.add_argument(
        "--reason", required=True, help="written to the audit log and the credit note"
    )
    refund.add_argument("--yes", action="store_true", help="refund without asking")
    remind = add("remind", cmd_remind, "list the payment reminders due now; --apply sends them")
    remind.add_argument("--apply", action="store_true", help="send them (default: dry run)")
    pause_reminders = add(
        "pause-reminders", cmd_pause_reminders, "stop payment reminders to a customer"
    )
    pause_reminders.add_argument("customer_id", type=_positive)
    pause_reminders.add_argument("--reason", required=True, help="written to the audit log")
    resume_reminders = add(
        "resume-reminders", cmd_resume_reminders, "send a customer payment reminders again"
    )
    resume_reminders.add_argument("customer_id", type=_positive)
    resume_reminders.add_argument("--reason", help="written to the audit log")
    deliver = add("deliver", cmd_deliver, "send the queued e-mail over SMTP, in a loop or --once")
    deliver.add_argument("--once", action="store_true", help="send what is due, then exit")
    deliver.add_argument(
        "--interval", type=_positive, default=10, help="seconds between passes (default 10)"
    )
    deliver.add_argument("--batch", type=_positive, default=50, help="messages claimed at a time")
    deliver.add_argument(
        "--metrics-port",
        type=_port,
        help="serve the worker's metrics (e-mails, reminders, Stripe calls) for Prometheus at "
        "http://127.0.0.1:PORT/metrics (--metrics-host to listen elsewhere; 0 takes a free "
        "port, written to the log as metrics.listening)",
    )
    deliver.add_argument("--metrics-host", default="127.0.0.1")
    token = add("token", cmd_token, "issue a bearer token for the REST API")
    token.add_argument("--role", required=True, choices=list(API_ROLES))
    token.add_argument("--id", type=_positive, help="the customer's or provider's id")
    token.add_argument("--ttl", default="1h", help="90s, 30m, 1h, 7d (default 1h)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The worker tells each e-mail and pass; a one-off command only what went wrong.
    logs.configure(level=logging.INFO if args.command == "deliver" else logging.WARNING)
    ctx = AppContext.create(get_settings())
    try:
        return int(args.handler(args, ctx))
    except AppError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
