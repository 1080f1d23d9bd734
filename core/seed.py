"""A demo marketplace that looks real: providers, customers, services and a year of jobs.

Every state appears, and the rows agree with each other: payments match their jobs,
each provider's earnings equal the sum of their received payments, and every paid job
has its two notifications. The same seed always gives the same data.

The year's paid jobs were paid by hand, before online invoicing; the jobs still owed were
completed in the last weeks (a few long ago) and are invoiced for real: `invoice_demo`
sends each one's Stripe invoice through the same invoicing code as a job completed today,
with the Stripe sandbox's clock set to the moment the job was completed, and passes the
events through the webhook handlers. Each invoice is due a week after its job, so some are
overdue and the rest fall due as the demo's clock moves on (`make advance-clock`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.billing.invoicing import process_job_payment
from core.billing.replay import replay_events
from core.context import AppContext
from core.db import clock
from core.db.models import Customer, Job, Notification, Payment, Service, ServiceProvider, utcnow
from core.db.session import session_scope
from core.identity.accounts import create_account, hash_password, password_hasher
from core.identity.actor import SYSTEM
from core.notify import notifications

PROVIDERS = [
    ("Rivera Plumbing & Heating", "maria@riveraplumbing.example"),
    ("BrightSpark Electric", "dev@brightspark.example"),
    ("Green Thumb Gardens", "sam@greenthumb.example"),
    ("Sparkle Home Cleaning", "lena@sparkleclean.example"),
    ("Coastal Painting Co.", "omar@coastalpainting.example"),
    ("HandyPro Repairs", "jun@handypro.example"),
]
SERVICES = [  # name, category, base price in cents
    ("Plumbing", "Home Repair", 15000),
    ("Electrical", "Home Repair", 18000),
    ("Handyman", "Home Repair", 9500),
    ("House Cleaning", "Cleaning", 12000),
    ("Deep Cleaning", "Cleaning", 24000),
    ("Lawn Mowing", "Outdoor", 6500),
    ("Gutter Cleaning", "Outdoor", 11000),
    ("Interior Painting", "Renovation", 45000),
    ("HVAC Tune-up", "Heating & Cooling", 13500),
]
# Which services each provider offers (by index into SERVICES).
OFFERS = [[0, 8], [1, 2], [5, 6], [3, 4], [7, 2], [2, 0, 6]]
FIRST = [
    "Ava",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Elijah",
    "Mia",
    "James",
    "Sofia",
    "Lucas",
    "Amelia",
    "Mateo",
    "Harper",
    "Ethan",
    "Chloe",
    "Daniel",
    "Layla",
    "Henry",
    "Zoe",
    "Jack",
    "Nora",
    "Owen",
    "Priya",
    "Kenji",
]
LAST = [
    "Nguyen",
    "Smith",
    "Garcia",
    "Johnson",
    "Brown",
    "Okafor",
    "Martinez",
    "Lee",
    "Walker",
    "Patel",
    "Hughes",
    "Kowalski",
]
NOTES = [
    "Kitchen sink",
    "Upstairs bathroom",
    "Back yard",
    "Whole house",
    "Garage",
    "Front porch",
    "Basement",
    "Living room",
    None,
]


# Demo sign-ins, listed in the README. Each provider signs in with their e-mail.
DEMO_PROVIDER_PASSWORD = "provider-demo"
DEMO_ACCOUNTS = [  # username, display name, role, password
    ("admin@marketplace.example", "Alex Admin", "admin", "admin-demo-pass"),
    ("finance@marketplace.example", "Fran Finance", "finance", "finance-demo-pass"),
]
# The demo passwords above, hashed at the strong cost (argon2id, core.identity.accounts).
DEMO_PASSWORD_HASHES = {
    "provider-demo": "$argon2id$v=19$m=65536,t=3,p=4$dQp2s8Asb5bD90Ciw3+IiQ$"
    "Hspf0SrfxruRDUjfwwjVyfiVdE1zWiWJ6bnwx5MeH8s",
    "admin-demo-pass": "$argon2id$v=19$m=65536,t=3,p=4$ieXBVMf+am5sSxRd5jFoqA$"
    "R6B9bTSR9D/ptqT4gqVtiwJCwH5D+p7eRD2MEe4Bymo",
    "finance-demo-pass": "$argon2id$v=19$m=65536,t=3,p=4$hcct3XT62RO6WzfBKV0IhQ$"
    "hmPdSgrmc9wG/RvkPkmRdyaK60o9CtADNol3Slp7Ix4",
}


@dataclass(frozen=True)
class SeedSummary:
    providers: int
    customers: int
    services: int
    jobs: int
    by_status: dict[str, int]


def has_data(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Job)))


def seed_demo(
    session: Session,
    *,
    jobs: int = 200,
    customers: int = 24,
    now: datetime | None = None,
    seed: int = 2026,
) -> SeedSummary:
    """Load the demo into an empty database (the caller commits)."""
    rng = random.Random(seed)
    now = now or utcnow()
    year_ago = now - timedelta(days=365)
    providers = [
        ServiceProvider(
            name=name,
            email=email,
            earnings=0,
            total_jobs=0,
            created_at=year_ago - timedelta(days=30),
        )
        for name, email in PROVIDERS
    ]
    services = [Service(name=n, category=c, base_price=p) for n, c, p in SERVICES]
    people = []
    for index in range(customers):
        first, last = FIRST[index % len(FIRST)], LAST[(index * 5) % len(LAST)]
        people.append(
            Customer(
                name=f"{first} {last}",
                email=f"{first}.{last}{index}@example.com".lower(),
                phone=f"+1-555-01{index:02d}",
                created_at=year_ago + timedelta(days=rng.randint(0, 200)),
            )
        )
    session.add_all([*providers, *services, *people])
    session.flush()

    counts: dict[str, int] = {}
    made: list[tuple[Job, Payment, str]] = []
    for index in range(jobs):
        provider_index = rng.randrange(len(providers))
        provider = providers[provider_index]
        service = services[rng.choice(OFFERS[provider_index])]
        customer = rng.choice(people)
        # The marketplace is busy lately: one job in five is from the last two weeks.
        span = 14 if index % 5 == 4 else 365
        created = now - timedelta(minutes=rng.randint(60, span * 24 * 60))
        age_days = (now - created).days
        # This week's jobs are often not done yet, or done and invoiced (not yet due); some
        # from the weeks before are still owed, a week or two late; a few older ones are
        # long overdue; everything else is settled.
        roll = rng.random()
        if age_days < 7 and roll < 0.35:
            status = "new"
        elif age_days < 7 and roll < 0.85:
            status = "completed"
        elif age_days < 21 and roll < 0.3:
            status = "completed"
        elif age_days < 90 and roll < 0.04:
            status = "completed"
        elif roll < 0.08:
            status = "cancelled"
        else:
            status = "paid"
        price = service.base_price + rng.choice([-1500, -500, 0, 0, 500, 2500, 4000])
        job = Job(
            service_id=service.id,
            customer_id=customer.id,
            provider_id=provider.id,
            price=price,
            status=status,
            description=rng.choice(NOTES),
            created_at=created,
        )
        payment = Payment(amount=0, status="pending", created_at=created)
        if status in ("completed", "paid"):
            job.completed_at = min(created + timedelta(hours=rng.randint(2, 72)), now)
            payment.amount = price
        if status == "paid":
            assert job.completed_at is not None
            paid_at = min(job.completed_at + timedelta(hours=rng.randint(1, 24 * 9)), now)
            job.paid_at = paid_at
            # The demo's history predates online invoicing: those payments were taken by hand.
            payment.status, payment.method, payment.marked_at = "received", "manual", paid_at
            provider.earnings += price
            provider.total_jobs += 1
        made.append((job, payment, service.name))
        counts[status] = counts.get(status, 0) + 1
    # All jobs in one flush (ids in this order), then what points at them.
    session.add_all([job for job, _, _ in made])
    session.flush()
    for job, payment, service_name in made:
        payment.job_id = job.id
        session.add(payment)
        _notifications(session, job, service_name, now)
    # Hashing is slow on purpose: each distinct password is hashed once and shared, and the
    # published demo passwords come hashed already while the hasher's cost is the one they
    # were hashed at (a second or more each otherwise, at every install).
    hashes: dict[str, str] = {}

    def hashed(password: str) -> str:
        if password not in hashes:
            shipped = DEMO_PASSWORD_HASHES.get(password)
            fits = shipped is not None and not password_hasher().check_needs_rehash(shipped)
            hashes[password] = shipped if shipped and fits else hash_password(password)
        return hashes[password]

    for provider in providers:
        create_account(
            session,
            username=provider.email,
            display_name=provider.name,
            role="provider",
            password=None,
            password_hash=hashed(DEMO_PROVIDER_PASSWORD),
            provider_id=provider.id,
        )
    for username, display_name, role, password in DEMO_ACCOUNTS:
        create_account(
            session,
            username=username,
            display_name=display_name,
            role=role,
            password=None,
            password_hash=hashed(password),
        )
    session.flush()
    return SeedSummary(len(providers), len(people), len(services), jobs, counts)


def _notifications(session: Session, job: Job, service_name: str, now: datetime) -> None:
    # A completed job's "invoice waiting" comes from its real invoice (`invoice_demo`).
    if job.status == "paid" and job.paid_at is not None:
        title, body = notifications.payment_confirmed(job.price, "usd", service_name)
        _add(
            session,
            "customer",
            job.customer_id,
            "payment_confirmed",
            title,
            body,
            job,
            job.paid_at,
            now,
        )
        title, body = notifications.payment_received(job.price, "usd", job.id)
        _add(
            session,
            "provider",
            job.provider_id,
            "payment_received",
            title,
            body,
            job,
            job.paid_at,
            now,
        )


def _add(
    session: Session,
    kind: str,
    recipient: int,
    what: str,
    title: str,
    body: str,
    job: Job,
    at: datetime,
    now: datetime,
) -> None:
    note = notifications.notify(
        session,
        recipient_kind=kind,
        recipient_id=recipient,
        kind=what,
        title=title,
        body=body,
        job_id=job.id,
        email=False,  # history: its e-mails went out when it happened
    )
    note.created_at = at
    if now - at > timedelta(days=14):  # older notifications have been read
        note.read_at = at + timedelta(hours=6)


class DemoClock(Protocol):
    """The clock Stripe's side of the demo keeps (the sandbox's), which can be set to a past
    moment while the demo's history is loaded."""

    def offset(self) -> int: ...

    def set(self, moment: datetime) -> None: ...

    def set_offset(self, seconds: int) -> None: ...


class SandboxClock:
    """The Stripe sandbox's clock, through its test controls (`/_sandbox/clock`)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def offset(self) -> int:
        return int(self.http.get("/_sandbox/clock").raise_for_status().json()["offset"])

    def set(self, moment: datetime) -> None:
        self.http.post("/_sandbox/clock", json={"at": int(moment.timestamp())}).raise_for_status()
        clock.forget()  # this process keeps the sandbox's time too, when the run has a clock

    def set_offset(self, seconds: int) -> None:
        self.set(datetime.now(UTC) + timedelta(seconds=seconds))

    def close(self) -> None:
        self.http.close()


def invoice_demo(ctx: AppContext, demo_clock: DemoClock) -> int:
    """Invoice every completed, unpaid job as if at the moment it was completed; returns how
    many were invoiced.

    Each job goes through `process_job_payment`, with the sandbox's clock set to the job's
    completion, so Stripe dates its invoice then and makes it due a week later; its events
    then go through the webhook handlers, as the live webhooks would have taken them (the
    customer's "invoice waiting" notification, the job's timeline). Afterwards the clock is
    where it was.
    """
    with session_scope(ctx.sessions) as session:
        owed = session.execute(
            select(Job.id, Job.completed_at)
            .join(Payment, Payment.job_id == Job.id)
            .where(Job.status == "completed", Payment.status == "pending")
            .order_by(Job.completed_at, Job.id)
        ).all()
    was = demo_clock.offset()
    try:
        for job_id, completed_at in owed:
            assert completed_at is not None  # every completed job has its moment
            demo_clock.set(completed_at)
            process_job_payment(ctx, job_id=job_id, actor=SYSTEM)
            replay_events(ctx, actor=SYSTEM, since=completed_at - timedelta(seconds=1))
    finally:
        demo_clock.set_offset(was)
    with session_scope(ctx.sessions) as session:
        _read_old_notifications(session, utcnow())
    return len(owed)


def _read_old_notifications(session: Session, now: datetime) -> None:
    """As everywhere in the demo: notifications older than two weeks have been read."""
    for note in session.scalars(
        select(Notification).where(
            Notification.read_at.is_(None), Notification.created_at < now - timedelta(days=14)
        )
    ):
        note.read_at = note.created_at + timedelta(hours=6)
