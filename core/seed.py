"""A demo marketplace that looks real: providers, customers, services and a year of jobs.

Every state appears, and the rows agree with each other: payments match their jobs,
each provider's earnings equal the sum of their received payments, and every paid job
has its two notifications. The same seed always gives the same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db.models import Customer, Job, Payment, Service, ServiceProvider, utcnow
from core.identity.accounts import create_account, hash_password
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
    for _ in range(jobs):
        provider_index = rng.randrange(len(providers))
        provider = providers[provider_index]
        service = services[rng.choice(OFFERS[provider_index])]
        customer = rng.choice(people)
        created = year_ago + timedelta(minutes=rng.randint(0, 365 * 24 * 60 - 60))
        age_days = (now - created).days
        # Recent jobs are more often still open; old ones are settled.
        roll = rng.random()
        if age_days < 10 and roll < 0.45:
            status = "new"
        elif age_days < 45 and roll < 0.7:
            status = "completed"
        elif roll < 0.08:
            status = "cancelled"
        elif roll < 0.12:
            status = "completed"  # long overdue
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
        session.add(job)
        session.flush()
        payment.job_id = job.id
        session.add(payment)
        _notifications(session, job, service.name, now)
        counts[status] = counts.get(status, 0) + 1
    # Hashing is slow on purpose: each distinct password is hashed once and shared.
    hashes: dict[str, str] = {}

    def hashed(password: str) -> str:
        if password not in hashes:
            hashes[password] = hash_password(password)
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
    if job.status == "completed" and job.completed_at is not None:
        title, body = notifications.invoice_waiting(
            job.price, "usd", service_name, job.completed_at + timedelta(days=7), None
        )
        _add(
            session,
            "customer",
            job.customer_id,
            "invoice_sent",
            title,
            body,
            job,
            job.completed_at,
            now,
        )
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
    )
    note.created_at = at
    if now - at > timedelta(days=14):  # older notifications have been read
        note.read_at = at + timedelta(hours=6)
