"""A marketplace at scale for the read-path benchmarks, bulk-loaded into any DATABASE_URL.

    .venv/bin/python -m bench.generate --jobs 100000 [--database-url URL] [--replace]

Migrates the database to head (core.db.migrate.upgrade), then loads 50 providers (the six
demo providers first, so the demo sign-ins work), 20,000 customers, the demo's nine
services and `--jobs` jobs spread over the last two years, more of them recent. The status
mix follows the demo seed (core/seed.py): recent jobs are often new or completed, older
ones paid, a few cancelled, a few completed and long overdue.

Every job has its payment (the schema holds one per job, so `--jobs 1000000` is the
million payments of the aggregate benchmarks): the price once completed, received (by
Stripe, some by hand) when paid, with providers' earnings and job counts equal to their
received payments. Completed and paid jobs have invoice copies in `stripe_invoices` with
exactly one `is_current` per invoiced job, chosen by core.billing.invoice_copies's rule
(paid, then open, draft, uncollectible, void): some re-issued after a void, some paid
jobs with a stray open duplicate, some completed jobs never invoiced (invoicing failed)
or stuck at a draft, and open invoices past their due date (overdue). Notifications and
the dashboard's demo sign-ins (core.seed.DEMO_ACCOUNTS, providers with the demo password)
come too. The same seed and `--now` always give the same rows.

Rows go in with COPY on PostgreSQL and Core executemany on SQLite, in chunks, with the
big tables' secondary indexes dropped meanwhile and built once at the end; then
PostgreSQL's sequences are moved past the ids written and the tables analyzed.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, DropIndex

from core.billing.invoice_copies import pick_current
from core.billing.invoice_status import PROGRESS_RANK
from core.db.migrate import upgrade
from core.db.models import (
    Account,
    Base,
    Customer,
    Job,
    Notification,
    Payment,
    Service,
    ServiceProvider,
    StripeCustomer,
    StripeInvoice,
)
from core.db.session import make_engine
from core.identity.accounts import hash_password
from core.notify import notifications
from core.seed import DEMO_ACCOUNTS, DEMO_PROVIDER_PASSWORD, PROVIDERS, SERVICES

DAYS = 730
CHUNK_JOBS = 20_000
FIRST_NAMES = (
    "Ava Liam Noah Emma Olivia Elijah Mia James Sofia Lucas Amelia Mateo Harper Ethan Chloe "
    "Daniel Layla Henry Zoe Jack Nora Owen Priya Kenji Aisha Diego Hana Ivan Leila Marco "
    "Nadia Oscar Ines Tomas Yara Felix Greta Hugo Ingrid Jonas Kira Luca Maya Nils Olga Pablo "
    "Rosa Sami Tara Viktor Wren Xavier Yusuf Zara Bianca Cyrus Dalia Emil Farah Gideon"
).split()
LAST_NAMES = (
    "Nguyen Smith Garcia Johnson Brown Okafor Martinez Lee Walker Patel Hughes Kowalski "
    "Andersen Baptiste Castillo Dubois Eriksen Fischer Gallagher Haddad Ibrahim Jansen "
    "Kaczmarek Lindqvist Moreau Nakamura O'Brien Petrov Quinn Rossi Schmidt Tanaka Ueda "
    "Varga Weber Xu Yilmaz Zielinski Abara Becker Cohen Delgado Esposito Fontaine Gupta "
    "Horvat Iyer Jovanovic Kim Lopez Mensah Novak Ortiz Park Reyes Silva Torres Vogel "
    "Wojcik Young"
).split()
TRADES = ("Plumbing", "Electric", "Gardens", "Cleaning", "Painting", "Repairs", "Home Care")
# Which services (indexes into core.seed.SERVICES) a provider may offer.
OFFER_CHOICES = ([0, 8], [1, 2], [5, 6], [3, 4], [7, 2], [2, 0, 6], [0, 1, 2], [3, 4, 6])


@dataclass
class Buffers:
    jobs: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    invoices: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[Table, list[dict[str, Any]]]]:
        return [
            (Job.__table__, self.jobs),  # type: ignore[list-item]
            (Payment.__table__, self.payments),  # type: ignore[list-item]
            (StripeInvoice.__table__, self.invoices),  # type: ignore[list-item]
            (Notification.__table__, self.notifications),  # type: ignore[list-item]
        ]


@dataclass
class Counts:
    by_status: dict[str, int] = field(default_factory=dict)
    invoices: int = 0
    current: int = 0
    overdue: int = 0
    notifications: int = 0


@dataclass(frozen=True)
class _Copy:
    id: str
    status: str
    created: datetime
    sent_at: datetime | None


def write_rows(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk-insert `rows` (dicts keyed by column name, the same columns in each; a column
    left out takes its default): COPY on PostgreSQL, one Core executemany on SQLite."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        columns = [c.name for c in table.columns if c.name in rows[0]]
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            names = ", ".join(f'"{c}"' for c in columns)
            with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
    else:
        connection.execute(insert(table), list(rows))


def _weights(count: int, rng: random.Random) -> list[float]:
    """Provider sizes: a few large, many small (Zipf-like), in a shuffled order after the
    first, which is the largest (the demo's Rivera Plumbing)."""
    weights = [1 / math.sqrt(rank + 1) for rank in range(count)]
    rest = weights[1:]
    rng.shuffle(rest)
    return [weights[0], *rest]


def providers(count: int, now: datetime) -> Iterator[dict[str, Any]]:
    for index in range(count):
        if index < len(PROVIDERS):
            name, email = PROVIDERS[index]
        else:
            last = LAST_NAMES[(index * 7) % len(LAST_NAMES)]
            trade = TRADES[index % len(TRADES)]
            name = f"{last} {trade} #{index + 1}"
            email = f"provider{index + 1}@bench.example"
        yield {
            "id": index + 1,
            "name": name,
            "email": email,
            "earnings": 0,
            "total_jobs": 0,
            "created_at": now - timedelta(days=DAYS + 30),
        }


def customers(count: int, now: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    for index in range(count):
        first = FIRST_NAMES[index % len(FIRST_NAMES)]
        last = LAST_NAMES[(index // len(FIRST_NAMES) + index * 7) % len(LAST_NAMES)]
        yield {
            "id": index + 1,
            "name": f"{first} {last}",
            "email": f"{first}.{last.replace(chr(39), '')}{index}@example.com".lower(),
            "phone": f"+1-555-{index % 10000:04d}",
            "created_at": now - timedelta(days=DAYS + rng.randint(0, 200)),
        }


def _status(age_days: float, rng: random.Random) -> str:
    """The demo seed's mix (core/seed.py), by the job's age."""
    roll = rng.random()
    if age_days < 10 and roll < 0.45:
        return "new"
    if age_days < 45 and roll < 0.7:
        return "completed"
    if roll < 0.08:
        return "cancelled"
    if roll < 0.12:
        return "completed"  # long overdue
    return "paid"


def _notification(
    next_id: int,
    kind: str,
    recipient: int,
    what: str,
    title_body: tuple[str, str],
    job_id: int,
    at: datetime,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": next_id,
        "recipient_kind": kind,
        "recipient_id": recipient,
        "kind": what,
        "title": title_body[0],
        "body": title_body[1],
        "job_id": job_id,
        "created_at": at,
        "read_at": at + timedelta(hours=6) if now - at > timedelta(days=14) else None,
    }


class Generator:
    def __init__(self, *, jobs: int, providers: int, customers: int, now: datetime, seed: int):
        self.jobs = jobs
        self.provider_count = providers
        self.customer_count = customers
        self.now = now
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.earnings = [0] * (providers + 1)
        self.jobs_paid = [0] * (providers + 1)
        self.invoiced_customers: set[int] = set()
        self.notification_id = 0
        self.weights = _weights(providers, self.rng)
        self.offers = [OFFER_CHOICES[i % len(OFFER_CHOICES)] for i in range(providers)]
        # The demo six offer what they offer in the demo.
        from core.seed import OFFERS

        for index, offered in enumerate(OFFERS[: min(providers, len(OFFERS))]):
            self.offers[index] = offered

    def _created(self) -> datetime:
        # More jobs lately: the density of the age grows linearly towards now.
        fraction = math.sqrt(self.rng.random())
        return self.now - timedelta(minutes=int((1 - fraction) * DAYS * 24 * 60) + 60)

    def chunks(self) -> Iterator[Buffers]:
        rng, now = self.rng, self.now
        provider_ids = list(range(1, self.provider_count + 1))
        cumulative = list(_cumulative(self.weights))
        buffers = Buffers()
        for job_id in range(1, self.jobs + 1):
            provider_id = rng.choices(provider_ids, cum_weights=cumulative)[0]
            service_index = rng.choice(self.offers[provider_id - 1])
            _, _, base_price = SERVICES[service_index]
            customer_id = rng.randint(1, self.customer_count)
            created = self._created()
            age_days = (now - created).total_seconds() / 86400
            status = _status(age_days, rng)
            price = base_price + rng.choice([-1500, -500, 0, 0, 500, 2500, 4000])
            completed_at = paid_at = None
            if status in ("completed", "paid"):
                completed_at = min(created + timedelta(hours=rng.randint(2, 72)), now)
            if status == "paid":
                assert completed_at is not None
                paid_at = min(completed_at + timedelta(hours=rng.randint(1, 24 * 9)), now)
            self.counts.by_status[status] = self.counts.by_status.get(status, 0) + 1
            buffers.jobs.append(
                {
                    "id": job_id,
                    "service_id": service_index + 1,
                    "customer_id": customer_id,
                    "provider_id": provider_id,
                    "price": price,
                    "status": status,
                    "description": rng.choice((None, "Kitchen", "Garage", "Whole house")),
                    "created_at": created,
                    "completed_at": completed_at,
                    "paid_at": paid_at,
                }
            )
            method = None
            if status == "paid":
                method = "manual" if rng.random() < 0.1 else "stripe"
                self.earnings[provider_id] += price
                self.jobs_paid[provider_id] += 1
            buffers.payments.append(
                {
                    "id": job_id,
                    "job_id": job_id,
                    "amount": price if completed_at is not None else 0,
                    "status": "received" if status == "paid" else "pending",
                    "method": method,
                    "marked_at": paid_at,
                    "created_at": created,
                }
            )
            if completed_at is not None:
                self._invoices(buffers, job_id, customer_id, price, status, completed_at, paid_at)
                self._notifications(
                    buffers,
                    job_id,
                    customer_id,
                    provider_id,
                    price,
                    SERVICES[service_index][0],
                    completed_at,
                    paid_at,
                )
            if len(buffers.jobs) >= CHUNK_JOBS:
                yield buffers
                buffers = Buffers()
        if buffers.jobs:
            yield buffers

    def _invoices(
        self,
        buffers: Buffers,
        job_id: int,
        customer_id: int,
        price: int,
        job_status: str,
        completed_at: datetime,
        paid_at: datetime | None,
    ) -> None:
        rng, now = self.rng, self.now
        roll = rng.random()
        if job_status == "completed" and roll < 0.03:
            return  # invoicing failed: no invoice yet
        copies: list[tuple[str, datetime, bool]] = []  # status, created, sent
        first = completed_at + timedelta(minutes=1)
        if job_status == "paid":
            if roll < 0.02:  # re-issued after a void
                copies += [("void", first, True), ("paid", first + timedelta(hours=3), True)]
            elif roll < 0.025:  # a stray duplicate left open beside the paid one
                copies += [("paid", first, True), ("open", first + timedelta(minutes=5), True)]
            else:
                copies.append(("paid", first, True))
        else:
            if roll < 0.05:
                copies.append(("draft", first, False))  # a crash before finalizing
            elif roll < 0.06:
                copies.append(("uncollectible", first, True))
            elif roll < 0.09:
                copies += [("void", first, True), ("open", first + timedelta(hours=3), True)]
            else:
                copies.append(("open", first, True))
        self.invoiced_customers.add(customer_id)
        made: list[_Copy] = []
        for status, created, sent in copies:
            invoice_id = f"in_bench{job_id:07d}{len(made)}"
            sent_at = created + timedelta(seconds=30) if sent else None
            made.append(_Copy(invoice_id, status, created, sent_at))
            due = sent_at + timedelta(days=7) if sent_at else None
            paid = status == "paid"
            buffers.invoices.append(
                {
                    "invoice_id": invoice_id,
                    "job_id": job_id,
                    "payment_id": job_id,
                    "customer": f"cus_bench{customer_id}",
                    "status": status,
                    "status_rank": PROGRESS_RANK[status],
                    "number": None if status == "draft" else f"BENCH-{job_id:07d}-{len(made)}",
                    "currency": "usd",
                    "amount_due": price,
                    "amount_paid": price if paid else 0,
                    "amount_remaining": 0 if paid else price,
                    "created": created,
                    "due_date": due,
                    "paid_at": paid_at if paid else None,
                    "hosted_invoice_url": None
                    if status == "draft"
                    else f"https://invoice.stripe.com/i/{invoice_id}",
                    "invoice_pdf": None
                    if status == "draft"
                    else f"https://pay.stripe.com/invoice/{invoice_id}/pdf",
                    "updated_at": paid_at or sent_at or created,
                    "is_current": False,
                    "sent_at": sent_at,
                }
            )
        chosen = pick_current(made, {c.id: c.sent_at for c in made if c.sent_at is not None})
        assert chosen is not None
        for row in buffers.invoices[-len(made) :]:
            row["is_current"] = row["invoice_id"] == chosen.id
            due = row["due_date"]
            if row["is_current"] and row["status"] == "open" and due is not None and due < now:
                self.counts.overdue += 1
        self.counts.invoices += len(made)
        self.counts.current += 1

    def _notifications(
        self,
        buffers: Buffers,
        job_id: int,
        customer_id: int,
        provider_id: int,
        price: int,
        service: str,
        completed_at: datetime,
        paid_at: datetime | None,
    ) -> None:
        now = self.now
        if paid_at is None:
            texts = notifications.invoice_waiting(
                price, "usd", service, completed_at + timedelta(days=7), None
            )
            made = [("customer", customer_id, "invoice_sent", texts, completed_at)]
        else:
            made = [
                (
                    "customer",
                    customer_id,
                    "payment_confirmed",
                    notifications.payment_confirmed(price, "usd", service),
                    paid_at,
                ),
                (
                    "provider",
                    provider_id,
                    "payment_received",
                    notifications.payment_received(price, "usd", job_id),
                    paid_at,
                ),
            ]
        for kind, recipient, what, texts, at in made:
            self.notification_id += 1
            buffers.notifications.append(
                _notification(self.notification_id, kind, recipient, what, texts, job_id, at, now)
            )
        self.counts.notifications += len(made)


def _cumulative(weights: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


# The tables most rows go to; their secondary indexes are built after the load.
BULK_TABLES: tuple[Table, ...] = tuple(
    Base.metadata.tables[name] for name in ("jobs", "payments", "stripe_invoices", "notifications")
)


def index_names(connection: Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return set(connection.scalars(text(query)))


@contextmanager
def _indexes_built_after(engine: Engine) -> Iterator[None]:
    """The bulk tables' secondary indexes (the models' own, as migrated) dropped while the
    rows go in and built again after: one build over all rows is several times faster than
    keeping every index up to date row by row. Keys and unique constraints stay."""
    with engine.begin() as connection:
        existing = index_names(connection)
        dropped = [i for t in BULK_TABLES for i in t.indexes if i.name in existing]
        for index in dropped:
            connection.execute(DropIndex(index))
    yield
    with engine.begin() as connection:
        for index in dropped:
            connection.execute(CreateIndex(index))


def _empty(connection: Connection) -> bool:
    return not connection.scalar(select(func.count()).select_from(Job.__table__))


def replace_database(url: str) -> None:
    """Start from nothing: SQLite's file removed, PostgreSQL's database dropped and made."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    name = parsed.database
    if name in (None, "", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to replace the database {name!r}")
    if name == "test" or (name or "").startswith("test_gw"):
        raise SystemExit(f"refusing to replace the test suite's database {name!r}")
    server = make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()


def generate(
    url: str,
    *,
    jobs: int,
    providers_count: int = 50,
    customers_count: int = 20_000,
    now: datetime | None = None,
    seed: int = 2026,
    replace: bool = False,
    log: Any = print,
) -> Counts:
    now = now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if replace:
        replace_database(url)
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    gen = Generator(
        jobs=jobs, providers=providers_count, customers=customers_count, now=now, seed=seed
    )
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        if not _empty(connection):
            raise SystemExit("the database already has jobs; pass --replace to start afresh")
        write_rows(connection, ServiceProvider.__table__, list(providers(providers_count, now)))  # type: ignore[arg-type]
        write_rows(
            connection,
            Service.__table__,  # type: ignore[arg-type]
            [
                {"id": i + 1, "name": n, "category": c, "base_price": p}
                for i, (n, c, p) in enumerate(SERVICES)
            ],
        )
        write_rows(
            connection,
            Customer.__table__,  # type: ignore[arg-type]
            list(customers(customers_count, now, gen.rng)),
        )
    done = 0
    with _indexes_built_after(engine):
        for chunk in gen.chunks():
            with engine.begin() as connection:
                for table, rows in chunk.tables():
                    write_rows(connection, table, rows)
            done += len(chunk.jobs)
            log(f"  {done:,} jobs ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        log(f"  building indexes ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    with engine.begin() as connection:
        provider_table = ServiceProvider.__table__
        for provider_id in range(1, providers_count + 1):
            connection.execute(
                provider_table.update()  # type: ignore[attr-defined]
                .where(provider_table.c.id == provider_id)
                .values(earnings=gen.earnings[provider_id], total_jobs=gen.jobs_paid[provider_id])
            )
        write_rows(
            connection,
            StripeCustomer.__table__,  # type: ignore[arg-type]
            [
                {
                    "customer_id": c,
                    "stripe_customer_id": f"cus_bench{c}",
                    "created_at": now - timedelta(days=DAYS),
                }
                for c in sorted(gen.invoiced_customers)
            ],
        )
        _accounts(connection, providers_count, now)
        if postgres:
            for table in Base.metadata.sorted_tables:
                if (
                    "id" in table.c
                    and table.c.id.autoincrement in (True, "auto")
                    and table.c.id.type.python_type is int
                ):
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"
                        )
                    )
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    log(f"loaded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return gen.counts


def _accounts(connection: Connection, providers_count: int, now: datetime) -> None:
    hashes: dict[str, str] = {}

    def hashed(password: str) -> str:
        if password not in hashes:
            hashes[password] = hash_password(password)
        return hashes[password]

    rows: list[dict[str, Any]] = []
    for index, (name, email) in enumerate(PROVIDERS[:providers_count]):
        rows.append(
            {
                "id": index + 1,
                "username": email,
                "display_name": name,
                "password_hash": hashed(DEMO_PROVIDER_PASSWORD),
                "role": "provider",
                "provider_id": index + 1,
                "created_at": now,
                "last_login_at": None,
            }
        )
    for username, display_name, role, password in DEMO_ACCOUNTS:
        rows.append(
            {
                "id": len(rows) + 1,
                "username": username,
                "display_name": display_name,
                "password_hash": hashed(password),
                "role": role,
                "provider_id": None,
                "created_at": now,
                "last_login_at": None,
            }
        )
    write_rows(connection, Account.__table__, rows)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs, hence payments")
    parser.add_argument("--providers", type=int, default=50)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--now", type=datetime.fromisoformat, default=None, help="ISO, UTC")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), help="default: DATABASE_URL"
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="drop the SQLite file or PostgreSQL database first (never the test suite's)",
    )
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or set DATABASE_URL")
    now = args.now.replace(tzinfo=args.now.tzinfo or UTC) if args.now else None
    counts = generate(
        args.database_url,
        jobs=args.jobs,
        providers_count=args.providers,
        customers_count=args.customers,
        now=now,
        seed=args.seed,
        replace=args.replace,
    )
    print(
        f"{args.jobs:,} jobs {dict(sorted(counts.by_status.items()))}, "
        f"{counts.invoices:,} invoice copies ({counts.current:,} current, "
        f"{counts.overdue:,} overdue), {counts.notifications:,} notifications"
    )


if __name__ == "__main__":
    main()
