"""The chaos run: jobs invoiced and paid through the Stripe sandbox while its webhooks arrive
twice and out of order, a few Stripe calls fail, and the webhook service is killed once in
the middle of the payments; then the final state, compared exactly with what the run's own
plan says it must be.

The run drives the system as production is driven: `core` completes and invoices each job
through the official SDK (as a provider's click does), the sandbox takes the payments and
delivers its signed events to the webhook service, a real uvicorn process on the test's
database. The expectation is computed from the plan (which jobs, which prices, which card,
which fault) and what Stripe says (each job's invoice id as invoicing got it back, when
Stripe marked it paid), never from what the code under test wrote; Stripe's side (the
sandbox's invoices and events) is read through its API.

The phases, each ended by the sandbox's drain so that what must come first did:

1. invoicing: every job completed in turn; before some, a Stripe fault is armed (a 500 the
   SDK retries, a 429 the gateway waits out, an answer lost after the change, and a send
   that fails three times, so invoicing stops and "send invoice" finishes it);
2. declines: a few invoices are paid first with the declined card (the customer is told);
3. the burst: every invoice paid (a few with the card that is then disputed); once a third
   are paid and deliveries are in flight, the service is SIGKILLed (all its workers at
   once); the payments go on, deliveries fail and are retried, and the service is started
   again on the same port once a delivery has failed;
4. a few disputes are lost (the money is taken back once, however often the event comes).

While the burst runs, the state is sampled and must only move forward.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.billing.invoicing import send_invoice
from core.billing.webhook_activity import PROBLEM_OUTCOMES
from core.billing.webhooks import subscribed_event_types
from core.context import AppContext
from core.db.models import (
    AuditLog,
    Customer,
    EmailMessage,
    Job,
    JobMoneyBack,
    Notification,
    Payment,
    Service,
    ServiceProvider,
    StripeDispute,
    StripeEvent,
    StripeInvoice,
)
from core.db.session import session_scope
from core.errors import CardDeclined
from core.identity.actor import Actor
from core.jobs.lifecycle import complete_job, create_job
from core.notify.outbox import EMAILED_KINDS
from core.reporting.earnings import ledger_mismatches, received_by_provider
from tests.support.sandbox import SandboxControl
from tests.support.service import ServiceProcess

# Deliveries: duplicated and held back at these rates; retried on this schedule (seconds),
# long enough in all (about 30 s) to outlast the service's restart many times over; an
# answer slower than the timeout counts as failed, so deliveries made while the service
# is down fail instead of waiting for it.
CHAOS = "duplicate=0.3,reorder=0.3,max_delay=0.5"
RETRY_SCHEDULE = "0.2,0.5,1,2,3,5,8,13"
WEBHOOK_TIMEOUT = "2"

# Stripe faults, each armed just before one job is completed, so it meets that job's calls.
FAULTS: dict[str, dict[str, Any]] = {
    # The SDK retries a 500 with the same idempotency key: one customer, one invoice.
    "customer_create_500": {"method": "POST", "path": "/v1/customers", "status": 500},
    "invoice_create_500": {"method": "POST", "path": "/v1/invoices", "status": 500},
    # Rate limited twice: the gateway backs off and the third attempt goes through.
    "item_429": {"method": "POST", "path": "/v1/invoiceitems", "status": 429, "count": 2},
    # Sent, then the answer is lost: the retry gets Stripe's saved answer, so one e-mail.
    "send_answer_lost": {
        "method": "POST",
        "path": "/v1/invoices/*/send",
        "status": 500,
        "when": "after",
    },
    # Down for the SDK's three attempts: invoicing stops at "send"; "send invoice" finishes
    # the same invoice.
    "send_down": {"method": "POST", "path": "/v1/invoices/*/send", "status": 503, "count": 3},
}
FAILS_INVOICING = {"send_down": "send"}

# Cards: the test payment methods of core.billing.stripe_gateway.
VISA, DECLINED_FIRST, DISPUTE, DISPUTE_LOST = "visa", "declined_first", "dispute", "dispute_lost"

PAYMENT_PAIR = ("invoice.paid", "invoice.payment_succeeded")
DISPUTE_PAIR = ("charge.dispute.created", "charge.dispute.funds_withdrawn")
NEEDS_A_PERSON = frozenset(PROBLEM_OUTCOMES) | {"unmatched"}


# The plan


@dataclass(frozen=True)
class PlannedJob:
    number: int  # the order jobs are completed and paid in
    customer: int  # indexes into the plan's customers, providers and services
    provider: int
    service: int
    price: int  # cents
    card: str
    fault: str | None


@dataclass(frozen=True)
class Plan:
    seed: int
    customers: int
    providers: int
    services: int
    jobs: tuple[PlannedJob, ...]

    def with_card(self, *cards: str) -> list[PlannedJob]:
        return [job for job in self.jobs if job.card in cards]


def make_plan(size: int, seed: int) -> Plan:
    """`size` jobs among a few customers, providers and services, each with its price, card
    and (for five of them) a Stripe fault; the same for the same size and seed."""
    if size < 12:
        raise ValueError("the chaos run needs at least 12 jobs")
    rng = random.Random(seed)
    customers, providers, services = max(3, size // 8), max(2, size // 10), 3
    # Job 0 is its customer's first, so its invoicing creates the Stripe customer.
    faults = dict(zip((0, *(size * n // 5 for n in range(1, 5))), FAULTS, strict=True))
    # A few cards other than Visa, on jobs without a fault: declined first, then paid; paid
    # and disputed (left open); paid, disputed and the dispute lost.
    declined, disputed = max(2, size // 12), max(1, size // 40)
    plain = [n for n in range(size) if n not in faults]
    picked = rng.sample(plain, declined + 2 * disputed)
    cards = dict.fromkeys(picked[:declined], DECLINED_FIRST)
    cards |= dict.fromkeys(picked[declined : declined + disputed], DISPUTE)
    cards |= dict.fromkeys(picked[declined + disputed :], DISPUTE_LOST)
    jobs = tuple(
        PlannedJob(
            number=n,
            customer=n % customers,
            provider=rng.randrange(providers),
            service=rng.randrange(services),
            price=rng.randrange(1_000, 60_000),
            card=cards.get(n, VISA),
            fault=faults.get(n),
        )
        for n in range(size)
    )
    return Plan(seed, customers, providers, services, jobs)


@dataclass(frozen=True)
class Market:
    """The database ids the plan's customers, providers and jobs were given."""

    customers: tuple[int, ...]
    providers: tuple[int, ...]
    jobs: tuple[int, ...]  # by job number

    def job_id(self, job: PlannedJob) -> int:
        return self.jobs[job.number]

    def provider_id(self, job: PlannedJob) -> int:
        return self.providers[job.provider]

    def customer_id(self, job: PlannedJob) -> int:
        return self.customers[job.customer]


def customer_email(index: int) -> str:
    return f"customer{index}@chaos.example"


def provider_email(index: int) -> str:
    return f"provider{index}@chaos.example"


def create_market(ctx: AppContext, plan: Plan) -> Market:
    with session_scope(ctx.sessions) as session:
        customers = [
            Customer(name=f"Chaos Customer {n}", email=customer_email(n))
            for n in range(plan.customers)
        ]
        providers = [
            ServiceProvider(name=f"Chaos Provider {n}", email=provider_email(n))
            for n in range(plan.providers)
        ]
        services = [
            Service(name=f"Chaos Service {n}", category="Home Repair", base_price=10_000)
            for n in range(plan.services)
        ]
        session.add_all([*customers, *providers, *services])
        session.flush()
        jobs = [
            create_job(
                session,
                customer_id=customers[job.customer].id,
                provider_id=providers[job.provider].id,
                service_id=services[job.service].id,
                price=job.price,
                description=f"Chaos job {job.number}",
            ).id
            for job in plan.jobs
        ]
        return Market(tuple(c.id for c in customers), tuple(p.id for p in providers), tuple(jobs))


# Never backwards, watched while the burst runs

JOB_RANK = {"new": 0, "completed": 1, "paid": 2}
PAYMENT_RANK = {"pending": 0, "received": 1}


@dataclass
class Watch:
    """Samples every job's, payment's, current invoice copy's and provider's state, and
    keeps each sample that went back from the one before."""

    ctx: AppContext
    samples: int = 0
    backwards: list[str] = field(default_factory=list)
    _last: dict[str, dict[int, int]] = field(default_factory=dict)

    def sample(self) -> None:
        with session_scope(self.ctx.readers) as session:
            now = _ranks(session)
        for what, values in now.items():
            before = self._last.get(what, {})
            for key, value in values.items():
                if value < 0 or value < before.get(key, value):
                    self.backwards.append(f"{what} {key}: {before.get(key)} -> {value}")
            for key in before.keys() - values.keys():
                self.backwards.append(f"{what} {key}: {before[key]} -> gone")
        self._last = now
        self.samples += 1


def _ranks(session: Session) -> dict[str, dict[int, int]]:
    """How far each job, payment and current invoice copy has got, and each provider's
    earnings (no refund and no dispute is decided during the burst: they only grow). An
    unknown status ranks -1, which counts as going back."""
    jobs = session.execute(select(Job.id, Job.status))
    payments = session.execute(select(Payment.job_id, Payment.status))
    copies = session.execute(
        select(StripeInvoice.job_id, StripeInvoice.status_rank).where(StripeInvoice.is_current)
    )
    earnings = session.execute(select(ServiceProvider.id, ServiceProvider.earnings))
    return {
        "job": {job_id: JOB_RANK.get(status, -1) for job_id, status in jobs},
        "payment": {job_id: PAYMENT_RANK.get(status, -1) for job_id, status in payments},
        "invoice": {job_id or 0: int(rank) for job_id, rank in copies},
        "earnings": {provider_id: int(cents) for provider_id, cents in earnings},
    }


# The run


@dataclass
class Figures:
    database: str
    workers: int
    jobs: int
    events: int = 0  # Stripe events of the types the endpoint takes
    deliveries: int = 0  # delivery attempts
    duplicates: int = 0  # attempts answered 2xx beyond each event's first
    failed: int = 0  # attempts that failed (refused, reset, timed out, 5xx)
    kills: int = 0
    pending_at_kill: int = 0  # deliveries queued or in flight at the SIGKILL
    down_seconds: float = 0.0
    wall_seconds: float = 0.0
    log_full: bool = False  # the sandbox keeps the last 10,000 attempts only

    def line(self) -> str:
        at_least = "at least " if self.log_full else ""
        return (
            f"chaos run: {self.database} ({self.workers} worker"
            f"{'s' if self.workers > 1 else ''}), {self.jobs} jobs, {self.events} events, "
            f"{at_least}{self.deliveries} deliveries ({self.duplicates} duplicates, "
            f"{self.failed} failed and retried), {self.kills} kill with {self.pending_at_kill} "
            f"deliveries pending (down {self.down_seconds:.1f} s), {self.wall_seconds:.1f} s"
        )


@dataclass
class ChaosRun:
    ctx: AppContext
    sandbox: SandboxControl
    service: ServiceProcess
    plan: Plan
    market: Market
    figures: Figures
    invoices: dict[int, str] = field(default_factory=dict)  # job number -> invoice id
    stopped_at: dict[int, str] = field(default_factory=dict)  # job number -> failed step
    watch: Watch = field(init=False)
    patience: float = field(init=False)  # seconds any one wait may take

    def __post_init__(self) -> None:
        self.watch = Watch(self.ctx)
        self.patience = 60.0 + 0.3 * len(self.plan.jobs)

    def run(self) -> None:
        started = time.monotonic()
        self.invoice_every_job()
        self.settle()
        self.decline_first()
        self.settle()
        self.pay_with_a_kill()
        self.settle(watching=True)
        self.lose_disputes()
        self.settle()
        self.figures.wall_seconds = time.monotonic() - started
        self.count_deliveries()

    def actor(self, job: PlannedJob) -> Actor:
        return Actor("provider", self.market.provider_id(job))

    def invoice_every_job(self) -> None:
        for job in self.plan.jobs:
            if job.fault is not None:
                self.sandbox.fault(**FAULTS[job.fault])
            result = complete_job(self.ctx, job_id=self.market.job_id(job), actor=self.actor(job))
            if result.error is not None:
                self.stopped_at[job.number] = result.error.step
                continue
            assert result.invoice is not None
            self.invoices[job.number] = result.invoice.invoice_id
        armed = self.sandbox.http.get("/_sandbox/faults").json()["faults"]
        assert armed == [], f"faults never met: {armed}"
        for number in self.stopped_at:
            job = self.plan.jobs[number]
            again = send_invoice(self.ctx, job_id=self.market.job_id(job), actor=self.actor(job))
            self.invoices[number] = again.invoice_id

    def decline_first(self) -> None:
        for job in self.plan.with_card(DECLINED_FIRST):
            try:
                self.ctx.gateway.pay_test_invoice(self.invoices[job.number], card="declined")
            except CardDeclined:
                continue
            raise AssertionError(f"the declined card paid job {job.number}'s invoice")

    def pay_with_a_kill(self) -> None:
        """Pay every invoice; SIGKILL the service at the first payment past a third of them
        that finds deliveries in flight; go on paying while it is down; start it again once
        a delivery has failed."""
        third = len(self.plan.jobs) // 3
        killed_at: float | None = None
        for count, job in enumerate(self.plan.jobs, start=1):
            card = "dispute" if job.card in (DISPUTE, DISPUTE_LOST) else "visa"
            self.ctx.gateway.pay_test_invoice(self.invoices[job.number], card=card)
            if killed_at is None and count >= third:
                pending = self.sandbox.drain(timeout=0)
                if pending > 0 or count == len(self.plan.jobs):
                    killed_at = time.time()
                    self.service.kill()
                    self.figures.kills += 1
                    self.figures.pending_at_kill = pending
            if count % 5 == 0:
                self.watch.sample()
        assert killed_at is not None
        self.until(lambda: self.failed_since(killed_at), "a delivery to fail after the kill")
        self.service.start()
        self.figures.down_seconds = time.time() - killed_at

    def failed_since(self, moment: float) -> bool:
        return any(
            attempt["at"] >= moment and not _accepted(attempt)
            for attempt in self.sandbox.deliveries()
        )

    def lose_disputes(self) -> None:
        """Submit losing evidence for the disputes the plan loses (found through Stripe's
        own links: invoice to payment, payment to dispute)."""
        client = self.sandbox.client
        for job in self.plan.with_card(DISPUTE_LOST):
            paid = client.v1.invoice_payments.list(params={"invoice": self.invoices[job.number]})
            intent = paid.data[0].payment.payment_intent
            assert isinstance(intent, str)
            disputes = client.v1.disputes.list(params={"payment_intent": intent})
            assert len(disputes.data) == 1, disputes
            client.v1.disputes.update(
                disputes.data[0].id, params={"evidence": {"uncategorized_text": "losing_evidence"}}
            )

    def settle(self, *, watching: bool = False) -> None:
        """Wait until the sandbox has no delivery queued or in flight."""
        deadline = time.monotonic() + self.patience
        while self.sandbox.drain(timeout=1) > 0:
            if watching:
                self.watch.sample()
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries still pending after {self.patience:.0f} s")
        if watching:
            self.watch.sample()

    def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.patience
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {self.patience:.0f} s for {what}")
            self.watch.sample()
            time.sleep(0.1)

    def count_deliveries(self) -> None:
        attempts = self.sandbox.deliveries()
        accepted = Counter(a["event"] for a in attempts if _accepted(a))
        self.figures.deliveries = len(attempts)
        self.figures.duplicates = sum(accepted.values()) - len(accepted)
        self.figures.failed = sum(1 for a in attempts if not _accepted(a))
        self.figures.log_full = len(attempts) >= 10_000


def _accepted(attempt: Mapping[str, Any]) -> bool:
    status = attempt["status"]
    return status is not None and 200 <= int(status) < 300


# The final state, expected and found


@dataclass
class State:
    """What the run must end in, section by section; each maps a key to a plain value."""

    jobs: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    providers: dict[int, tuple[int, int]] = field(default_factory=dict)
    kept_by_provider: dict[int, tuple[int, int]] = field(default_factory=dict)
    ledger_mismatches: list[str] = field(default_factory=list)
    money_back: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    disputes: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    notifications: dict[tuple[int, str, int, str], int] = field(default_factory=dict)
    outbox: dict[tuple[int, str, str, str], int] = field(default_factory=dict)
    outbox_links: list[str] = field(default_factory=list)
    event_outcomes: dict[tuple[int, str], tuple[str, ...]] = field(default_factory=dict)
    events_needing_a_person: list[str] = field(default_factory=list)
    invoice_copies: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    stripe_invoices: dict[int, list[tuple[str, str, int]]] = field(default_factory=dict)
    events_not_recorded: list[str] = field(default_factory=list)
    events_not_delivered: list[str] = field(default_factory=list)
    invoicing_stopped: dict[int, str] = field(default_factory=dict)  # job -> step
    invoicing_audit: dict[int, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    backwards: list[str] = field(default_factory=list)


def expected_state(run: ChaosRun, paid_at: Mapping[str, datetime]) -> State:
    """The state the plan leads to. Stripe's own clock says when each invoice was paid
    (`paid_at`, read from the sandbox): the only fact taken from outside the plan."""
    plan, market = run.plan, run.market
    state = State()
    providers = {provider_id: [0, 0] for provider_id in market.providers}
    for job in plan.jobs:
        job_id, provider_id = market.job_id(job), market.provider_id(job)
        customer_id, invoice_id = market.customer_id(job), run.invoices[job.number]
        lost = job.card == DISPUTE_LOST
        when = paid_at[invoice_id]
        state.jobs[job_id] = ("paid", when, "received", "stripe", job.price, when)
        providers[provider_id][0] += 0 if lost else job.price
        providers[provider_id][1] += 0 if lost else 1
        told = [
            ("customer", customer_id, "invoice_sent"),
            ("customer", customer_id, "payment_confirmed"),
            ("provider", provider_id, "payment_received"),
        ]
        outcomes = {
            "invoice.finalized": ("recorded",),
            "invoice.sent": ("customer_notified",),
            "invoice_payment.paid": ("recorded",),
            " | ".join(PAYMENT_PAIR): ("already_applied", "applied"),
        }
        if job.card == DECLINED_FIRST:
            told.append(("customer", customer_id, "payment_failed"))
            outcomes["invoice.payment_failed"] = ("customer_notified",)
        if job.card in (DISPUTE, DISPUTE_LOST):
            told.append(("provider", provider_id, "dispute_opened"))
            outcomes[" | ".join(DISPUTE_PAIR)] = ("already_applied", "dispute_needs_response")
            # (refunded, held by the open dispute, lost to it, taken off the earnings)
            if lost:
                state.money_back[job_id] = (0, 0, job.price, job.price)
                state.disputes[job_id] = ("lost", job.price, job.price)
            else:
                state.money_back[job_id] = (0, job.price, 0, 0)
                state.disputes[job_id] = ("needs_response", job.price, 0)
        if lost:
            told.append(("provider", provider_id, "dispute_lost"))
            outcomes["charge.dispute.closed"] = ("dispute_lost",)
        for recipient_kind, recipient_id, kind in told:
            state.notifications[(job_id, recipient_kind, recipient_id, kind)] = 1
            if EMAILED_KINDS[kind]:
                address = (
                    customer_email(job.customer)
                    if recipient_kind == "customer"
                    else provider_email(job.provider)
                )
                key = (job_id, kind, address, "queued")
                state.outbox[key] = state.outbox.get(key, 0) + 1
        for group, values in outcomes.items():
            state.event_outcomes[(job_id, group)] = values
        state.invoice_copies[job_id] = (invoice_id, "paid", job.price, True)
        state.stripe_invoices[job_id] = [(invoice_id, "paid", job.price)]
        failed = (FAILS_INVOICING[job.fault],) if job.fault in FAILS_INVOICING else ()
        if failed:
            state.invoicing_stopped[job_id] = failed[0]
        state.invoicing_audit[job_id] = (failed, 1)
    state.providers = {key: (earned, count) for key, (earned, count) in providers.items()}
    # The ledger's own sum lists the providers with a received payment.
    paid = {market.provider_id(job) for job in plan.jobs}
    state.kept_by_provider = {key: state.providers[key] for key in paid}
    return state


def actual_state(run: ChaosRun) -> State:
    """The state found: our database, and Stripe's side through the sandbox's API (whose
    events of the endpoint's types are also counted in the run's figures)."""
    state = State(
        backwards=list(run.watch.backwards),
        invoicing_stopped={run.market.jobs[n]: step for n, step in run.stopped_at.items()},
    )
    types = set(subscribed_event_types())
    listing = run.sandbox.client.v1.events.list(params={"limit": 100}).auto_paging_iter()
    taken = [event for event in listing if event.type in types]
    state.events_not_delivered = sorted(e.id for e in taken if e.pending_webhooks)
    for invoice in stripe_invoices(run.sandbox):
        job_id = int((invoice.get("metadata") or {}).get("job_id", 0))
        state.stripe_invoices.setdefault(job_id, []).append(
            (invoice["id"], invoice["status"], invoice["amount_paid"])
        )
    run.figures.events = len(taken)
    with session_scope(run.ctx.readers) as session:
        _read_domain(session, state)
        _read_notifications(session, state)
        _read_events(session, state, {e.id for e in taken})
        _read_invoicing(session, state)
    return state


def _read_domain(session: Session, state: State) -> None:
    rows = session.execute(
        select(Job.id, Job.status, Job.paid_at, Payment.status, Payment.method)
        .add_columns(Payment.amount, Payment.marked_at)
        .join(Payment, Payment.job_id == Job.id)
    )
    state.jobs = {row[0]: tuple(row[1:]) for row in rows}
    state.providers = {
        p.id: (p.earnings, p.total_jobs) for p in session.scalars(select(ServiceProvider))
    }
    state.kept_by_provider = received_by_provider(session)
    state.ledger_mismatches = ledger_mismatches(session)
    state.money_back = {
        m.job_id: (m.refunded, m.disputed, m.dispute_lost, m.taken_back)
        for m in session.scalars(select(JobMoneyBack))
    }
    state.disputes = {
        d.job_id: (d.status, d.amount, d.applied) for d in session.scalars(select(StripeDispute))
    }


def _read_notifications(session: Session, state: State) -> None:
    notes = list(session.scalars(select(Notification)))
    state.notifications = dict(
        Counter((n.job_id or 0, n.recipient_kind, n.recipient_id, n.kind) for n in notes)
    )
    messages = list(session.scalars(select(EmailMessage)))
    state.outbox = dict(Counter((m.job_id or 0, m.kind, m.to_address, m.status) for m in messages))
    # Each e-mailed notification has exactly one message, keyed by it, and nothing else has.
    emailed = {n.id for n in notes if EMAILED_KINDS.get(n.kind, False)}
    queued: Counter[int | None] = Counter(m.notification_id for m in messages)
    for message in messages:
        if message.message_key != f"notification:{message.notification_id}":
            state.outbox_links.append(f"{message.message_key} for {message.notification_id}")
    for note_id in emailed:
        if queued[note_id] != 1:
            state.outbox_links.append(f"notification {note_id}: {queued[note_id]} e-mails")
    for other in queued.keys() - emailed:
        state.outbox_links.append(f"an e-mail for notification {other}, not an e-mailed one")


def _group(event_type: str) -> str:
    for pair in (PAYMENT_PAIR, DISPUTE_PAIR):
        if event_type in pair:
            return " | ".join(pair)
    return event_type


def _read_events(session: Session, state: State, in_stripe: set[str]) -> None:
    rows = list(session.scalars(select(StripeEvent)))
    outcomes: dict[tuple[int, str], list[str]] = {}
    for row in rows:
        outcomes.setdefault((row.job_id or 0, _group(row.type)), []).append(str(row.outcome))
        if row.handled_at is None or row.error is not None or row.outcome in NEEDS_A_PERSON:
            state.events_needing_a_person.append(f"{row.event_id} {row.type}: {row.outcome}")
    state.event_outcomes = {key: tuple(sorted(values)) for key, values in outcomes.items()}
    recorded = {row.event_id for row in rows}
    state.events_not_recorded = sorted(
        [f"{e} (in Stripe, not here)" for e in in_stripe - recorded]
        + [f"{e} (here, not in Stripe)" for e in recorded - in_stripe]
    )


def _read_invoicing(session: Session, state: State) -> None:
    copies: dict[int, list[StripeInvoice]] = {}
    for copy in session.scalars(select(StripeInvoice)):
        copies.setdefault(copy.job_id or 0, []).append(copy)
    for job_id, found in copies.items():
        current = [c for c in found if c.is_current]
        if len(current) != 1:
            state.invoice_copies[job_id] = (f"{len(current)} current of {len(found)} copies",)
            continue
        (copy,) = current
        state.invoice_copies[job_id] = (
            copy.invoice_id,
            copy.status,
            copy.amount_paid,
            len(found) == 1,
        )
    failed: dict[int, list[str]] = {}
    sent: Counter[int] = Counter()
    for entry in session.scalars(select(AuditLog).where(AuditLog.action == "invoice.send")):
        job_id = entry.job_id or 0
        failed.setdefault(job_id, [])
        if entry.result == "failed":
            failed[job_id].append(str((entry.after or {}).get("step")))
        else:
            sent[job_id] += 1
    state.invoicing_audit = {
        job_id: (tuple(steps), sent[job_id]) for job_id, steps in failed.items()
    }


def differences(expected: State, actual: State, limit: int = 12) -> list[str]:
    """Each section that differs, with up to `limit` of its differing keys or items."""
    found: list[str] = []
    for name in expected.__dataclass_fields__:
        want, got = getattr(expected, name), getattr(actual, name)
        if want == got:
            continue
        if isinstance(want, dict):
            keys = sorted(set(want) | set(got), key=repr)
            wrong = [key for key in keys if want.get(key) != got.get(key)]
            lines = [f"  {k!r}: expected {want.get(k)!r}, found {got.get(k)!r}" for k in wrong]
            found.append(f"{name}: {len(wrong)} differ\n" + "\n".join(lines[:limit]))
        else:
            found.append(f"{name}: expected {want!r}, found {len(got)}: {got[:limit]!r}")
    return found


def stripe_invoices(sandbox: SandboxControl) -> list[dict[str, Any]]:
    """Every invoice in the sandbox, as the JSON Stripe sends."""
    pages = sandbox.client.v1.invoices.list(params={"limit": 100}).auto_paging_iter()
    return [invoice.to_dict() for invoice in pages]


def paid_at_in_stripe(sandbox: SandboxControl) -> dict[str, datetime]:
    """When Stripe says each paid invoice was paid."""
    return {
        invoice["id"]: datetime.fromtimestamp(invoice["status_transitions"]["paid_at"], UTC)
        for invoice in stripe_invoices(sandbox)
        if invoice["status_transitions"]["paid_at"] is not None
    }
