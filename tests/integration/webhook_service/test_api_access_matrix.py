"""Who may call what: every REST endpoint against every kind of caller, with the exact answer.

Callers: no token, a malformed one, a valid token in another scheme, a token signed with
another key, an unsigned one, an expired one, one for a role the API does not know, and
each role as the owner of the object and as someone else. The answers the README
promises: 401 (with `WWW-Authenticate: Bearer`) for every bad token, 403 for a role that
may never call the endpoint, 404 (never 403, and worded as for a missing object) for
someone else's job, provider or notification, 2xx with its effect for an allowed caller.

A refused call changes nothing: the jobs, payments, notifications, audit log, invoice
mirror, invoice claims and provider rows are identical afterwards, the sandbox holds the
same invoices, and no write request reached Stripe.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.context import AppContext
from core.db.models import (
    AuditLog,
    Customer,
    InvoiceLock,
    Job,
    Notification,
    Payment,
    Service,
    ServiceProvider,
    StripeInvoice,
    utcnow,
)
from core.db.session import session_scope
from core.identity.actor import Actor
from core.identity.api_tokens import ALGORITHM, ISSUER, issue_token
from core.jobs.lifecycle import complete_job, create_job
from core.notify.notifications import notify
from tests.support.database import fresh_sqlite, scratch_postgres
from tests.support.sandbox import SandboxControl, running_sandbox
from webhook_service.app import create_app

with warnings.catch_warnings():  # Starlette's notice about httpx, not about this project
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

# The people and objects every test starts from


@dataclass(frozen=True)
class World:
    """Two customers and two providers. The first pair owns three jobs: a new one, one
    completed whose invoicing failed, and one completed and invoiced; the second pair
    owns one invoiced job. The first customer has two unread notifications and the first
    provider one; the others have none."""

    customer: int
    other_customer: int
    provider: int
    other_provider: int
    service: int
    new_job: int
    uninvoiced_job: int
    invoiced_job: int
    other_job: int
    invoice_id: str
    prices: dict[int, int]
    customer_notifications: tuple[int, int]  # newest first
    provider_notification: int

    def jobs_of(self, *, customer: int | None = None, provider: int | None = None) -> set[int]:
        owners = {
            self.new_job: (self.customer, self.provider),
            self.uninvoiced_job: (self.customer, self.provider),
            self.invoiced_job: (self.customer, self.provider),
            self.other_job: (self.other_customer, self.other_provider),
        }
        return {
            job for job, (c, p) in owners.items() if customer in (None, c) and provider in (None, p)
        }


def build_world(ctx: AppContext, sandbox: SandboxControl) -> World:
    with session_scope(ctx.sessions) as session:
        ann = Customer(name="Ann Lee", email="ann@example.com", phone="+1-555-0100")
        bo = Customer(name="Bo Chen", email="bo@example.com", phone="+1-555-0101")
        rivera = ServiceProvider(name="Rivera Plumbing", email="maria@example.com")
        spark = ServiceProvider(name="BrightSpark Electric", email="dev@example.com")
        plumbing = Service(name="Plumbing", category="Home Repair", base_price=15000)
        session.add_all([ann, bo, rivera, spark, plumbing])
        session.flush()

        def job(customer: Customer, provider: ServiceProvider, price: int) -> int:
            return create_job(
                session,
                customer_id=customer.id,
                provider_id=provider.id,
                service_id=plumbing.id,
                price=price,
                description="Kitchen sink",
            ).id

        new_job = job(ann, rivera, 15000)
        uninvoiced = job(ann, rivera, 12000)
        invoiced = job(ann, rivera, 18000)
        other = job(bo, spark, 9500)
        prices = {new_job: 15000, uninvoiced: 12000, invoiced: 18000, other: 9500}
        ids = (ann.id, bo.id, rivera.id, spark.id, plumbing.id)

        def note(kind: str, recipient: int, job_id: int) -> int:
            row = notify(
                session,
                recipient_kind=kind,
                recipient_id=recipient,
                kind="invoice_sent",
                title="New Invoice",
                body=f"Your invoice for job #{job_id} is waiting",
                job_id=job_id,
            )
            session.flush()
            return row.id

        older = note("customer", ann.id, new_job)
        newer = note("customer", ann.id, invoiced)
        provider_note = note("provider", rivera.id, invoiced)

    result = complete_job(ctx, job_id=invoiced, actor=Actor("provider", ids[2]))
    assert result.invoice is not None and result.invoice.status == "open"
    assert complete_job(ctx, job_id=other, actor=Actor("provider", ids[3])).invoice is not None
    # Stripe refuses the invoice once: the job stays completed, waiting for send-invoice.
    sandbox.fault("/v1/invoices", method="POST", status=400, count=1)
    failed = complete_job(ctx, job_id=uninvoiced, actor=Actor("provider", ids[2]))
    assert failed.invoice is None and failed.error is not None
    assert failed.error.step == "invoice_create"
    return World(
        customer=ids[0],
        other_customer=ids[1],
        provider=ids[2],
        other_provider=ids[3],
        service=ids[4],
        new_job=new_job,
        uninvoiced_job=uninvoiced,
        invoiced_job=invoiced,
        other_job=other,
        invoice_id=result.invoice.invoice_id,
        prices=prices,
        customer_notifications=(newer, older),
        provider_notification=provider_note,
    )


# What "nothing changed" compares

WATCHED = (Job, Payment, Notification, AuditLog, StripeInvoice, InvoiceLock, ServiceProvider)


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, list[tuple[Any, ...]]]
    sandbox_invoices: list[tuple[str, str, int]]
    stripe_writes: dict[str, int]

    def table(self, name: str) -> list[tuple[Any, ...]]:
        return self.rows[name]


def sandbox_invoices(sandbox: SandboxControl) -> list[tuple[str, str, int]]:
    page = sandbox.client.v1.invoices.list(params={"limit": 100})
    assert not page.has_more
    found = []
    for invoice in page.data:
        assert invoice.metadata is not None
        found.append((invoice.id or "", invoice.status or "", int(invoice.metadata["job_id"])))
    return sorted(found)


def snapshot(ctx: AppContext, sandbox: SandboxControl) -> Snapshot:
    with session_scope(ctx.sessions) as session:
        rows = {
            model.__tablename__: [
                tuple(row)
                for row in session.execute(
                    select(model.__table__).order_by(*model.__mapper__.primary_key)
                )
            ]
            for model in WATCHED
        }
    writes = {
        route: count
        for route, count in sandbox.request_counts().items()
        if not route.startswith("GET ")
    }
    return Snapshot(rows, sandbox_invoices(sandbox), writes)


# Callers

BAD_TOKENS = (
    "no token",
    "malformed",
    "not bearer",
    "wrong signature",
    "unsigned",
    "expired",
    "unknown role",
)
ROLES = (
    "customer (owner)",
    "customer (other)",
    "provider (owner)",
    "provider (other)",
    "admin",
    "finance",
)


def actor_for(world: World, caller: str) -> Actor:
    return {
        "customer (owner)": Actor("customer", world.customer),
        "customer (other)": Actor("customer", world.other_customer),
        "provider (owner)": Actor("provider", world.provider),
        "provider (other)": Actor("provider", world.other_provider),
        "admin": Actor("admin"),
        "finance": Actor("finance"),
    }[caller]


def claims(actor: Actor, *, issued: timedelta, lifetime: timedelta) -> dict[str, Any]:
    now = utcnow() - issued
    return {
        "iss": ISSUER,
        "sub": actor.label,
        "role": actor.role,
        "id": actor.id,
        "iat": now,
        "exp": now + lifetime,
    }


def authorization(ctx: AppContext, world: World, caller: str, allowed: str) -> dict[str, str]:
    """The Authorization header for a caller; bad tokens speak for the allowed caller, so
    only the defect of the token can be what refuses them."""
    secret = ctx.settings.app_secret_key.get_secret_value()
    actor = actor_for(world, allowed if caller in BAD_TOKENS else caller)
    valid = issue_token(ctx.settings, role=actor.role, subject_id=actor.id)
    fresh = claims(actor, issued=timedelta(0), lifetime=timedelta(hours=1))
    if caller == "no token":
        return {}
    if caller == "malformed":
        return {"Authorization": "Bearer not.a-token"}
    if caller == "not bearer":
        return {"Authorization": f"Token {valid}"}
    if caller == "wrong signature":
        return {"Authorization": f"Bearer {jwt.encode(fresh, 'x' * 48, algorithm=ALGORITHM)}"}
    if caller == "unsigned":
        return {"Authorization": f"Bearer {jwt.encode(fresh, '', algorithm='none')}"}
    if caller == "expired":
        old = claims(actor, issued=timedelta(hours=2), lifetime=timedelta(hours=1))
        return {"Authorization": f"Bearer {jwt.encode(old, secret, algorithm=ALGORITHM)}"}
    if caller == "unknown role":
        forged = {**fresh, "role": "system", "sub": "system"}
        return {"Authorization": f"Bearer {jwt.encode(forged, secret, algorithm=ALGORITHM)}"}
    return {"Authorization": f"Bearer {valid}"}


# Endpoints


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, int] = field(default_factory=dict)


def no_body(world: World, caller: str) -> dict[str, Any] | None:
    return None


def no_params(world: World, caller: str) -> dict[str, int]:
    return {}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    route: str  # as in /openapi.json
    allowed: str  # the caller whose identity the bad tokens carry
    answers: dict[str, int]  # per role caller
    target: Callable[[World], int | None] = lambda world: None  # the id in the path
    body: Callable[[World, str], dict[str, Any] | None] = no_body
    params: Callable[[World, str], dict[str, int]] = no_params

    def path(self, target: int | None) -> str:
        path = self.route
        for name in ("{job_id}", "{provider_id}", "{notification_id}"):
            path = path.replace(name, str(target))
        return path

    def call(self, world: World, caller: str) -> Call:
        return Call(
            self.method,
            self.path(self.target(world)),
            self.body(world, caller),
            self.params(world, caller),
        )

    def missing(self, world: World, caller: str) -> Call:
        """The same call on an id that does not exist."""
        return Call(self.method, self.path(MISSING), self.body(world, caller))


def create_body(world: World, caller: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_id": world.service,
        "provider_id": world.provider,
        "price": 15000,
        "description": "Leaky tap",
    }
    if caller == "customer (other)":  # booking in another customer's name
        body["customer_id"] = world.other_customer
    return body


def history_params(world: World, caller: str) -> dict[str, int]:
    """Others' ids as filters: for customers and providers they narrow, never widen."""
    theirs = {"customer_id": world.customer, "provider_id": world.provider}
    return {
        "customer (other)": theirs,
        "provider (other)": theirs,
        "finance": {"provider_id": world.provider},
    }.get(caller, {})


MISSING = 999_999
ONLY_THE_JOBS_PROVIDER = {
    "customer (owner)": 403,
    "customer (other)": 403,
    "provider (owner)": 200,
    "provider (other)": 404,
    "admin": 403,
    "finance": 403,
}
PROVIDER_OR_ADMIN = {**ONLY_THE_JOBS_PROVIDER, "admin": 200}

ENDPOINTS = [
    Endpoint(
        "create",
        "POST",
        "/jobs/create",
        "customer (owner)",
        {
            "customer (owner)": 201,
            "customer (other)": 422,
            "provider (owner)": 403,
            "provider (other)": 403,
            "admin": 403,
            "finance": 403,
        },
        body=create_body,
    ),
    Endpoint(
        "complete",
        "POST",
        "/provider/jobs/{job_id}/update-status",
        "provider (owner)",
        ONLY_THE_JOBS_PROVIDER,
        target=lambda world: world.new_job,
        body=lambda world, caller: {"action": "mark_complete"},
    ),
    Endpoint(
        "send-invoice",
        "POST",
        "/payments/jobs/{job_id}/send-invoice",
        "provider (owner)",
        PROVIDER_OR_ADMIN,
        target=lambda world: world.uninvoiced_job,
    ),
    Endpoint(
        "invoice",
        "GET",
        "/payments/jobs/{job_id}/invoice",
        "customer (owner)",
        {
            "customer (owner)": 200,
            "customer (other)": 404,
            "provider (owner)": 200,
            "provider (other)": 404,
            "admin": 200,
            "finance": 403,
        },
        target=lambda world: world.invoiced_job,
    ),
    Endpoint(
        "resend-invoice",
        "POST",
        "/payments/jobs/{job_id}/resend-invoice",
        "provider (owner)",
        PROVIDER_OR_ADMIN,
        target=lambda world: world.invoiced_job,
    ),
    Endpoint(
        "earnings",
        "GET",
        "/payments/provider/{provider_id}/earnings",
        "provider (owner)",
        {
            "customer (owner)": 403,
            "customer (other)": 403,
            "provider (owner)": 200,
            "provider (other)": 404,
            "admin": 200,
            "finance": 200,
        },
        target=lambda world: world.provider,
    ),
    Endpoint(
        "history",
        "GET",
        "/payments/history",
        "admin",
        dict.fromkeys(ROLES, 200),
        params=history_params,
    ),
]
ONLY_CUSTOMERS_AND_PROVIDERS = {**dict.fromkeys(ROLES, 200), "admin": 403, "finance": 403}
ENDPOINTS += [
    Endpoint(
        "notifications",
        "GET",
        "/notifications",
        "customer (owner)",
        ONLY_CUSTOMERS_AND_PROVIDERS,
    ),
    Endpoint(
        "notification-read",
        "POST",
        "/notifications/{notification_id}/read",
        "customer (owner)",
        {
            "customer (owner)": 200,
            "customer (other)": 404,
            "provider (owner)": 404,  # a customer's notification, not the provider's
            "provider (other)": 404,
            "admin": 403,
            "finance": 403,
        },
        target=lambda world: world.customer_notifications[0],
    ),
    Endpoint(
        "notifications-read-all",
        "POST",
        "/notifications/read-all",
        "customer (owner)",
        ONLY_CUSTOMERS_AND_PROVIDERS,
    ),
]
ENDPOINTS += [
    Endpoint(
        "job",
        "GET",
        "/jobs/{job_id}",
        "customer (owner)",
        {
            "customer (owner)": 200,
            "customer (other)": 404,
            "provider (owner)": 200,
            "provider (other)": 404,
            "admin": 200,
            "finance": 200,
        },
        target=lambda world: world.invoiced_job,
    ),
    # Refunds are for admins; the job here is invoiced, not paid, so an admin is told
    # there is nothing to refund (409), and nothing is refunded.
    Endpoint(
        "refund-preview",
        "GET",
        "/jobs/{job_id}/refunds/preview",
        "admin",
        {**dict.fromkeys(ROLES, 403), "admin": 409},
        target=lambda world: world.invoiced_job,
    ),
    Endpoint(
        "refund",
        "POST",
        "/jobs/{job_id}/refunds",
        "admin",
        {**dict.fromkeys(ROLES, 403), "admin": 409},
        target=lambda world: world.invoiced_job,
        body=lambda world, caller: {"reason": "Asked"},
    ),
]
BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}


def expected(endpoint: Endpoint, caller: str) -> int:
    return 401 if caller in BAD_TOKENS else endpoint.answers[caller]


CASES = [(e.name, caller) for e in ENDPOINTS for caller in (*BAD_TOKENS, *ROLES)]
REFUSED = [case for case in CASES if expected(BY_NAME[case[0]], case[1]) >= 400]
ALLOWED = [case for case in CASES if expected(BY_NAME[case[0]], case[1]) < 400]
ERROR_CODES = {
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "invalid_input",
}


# Fixtures and helpers


@dataclass
class Api:
    ctx: AppContext
    sandbox: SandboxControl
    client: TestClient
    world: World

    def send(self, call: Call, headers: dict[str, str]) -> httpx.Response:
        return self.client.request(
            call.method, call.path, json=call.json, params=call.params, headers=headers
        )

    def as_caller(self, endpoint: Endpoint, caller: str) -> httpx.Response:
        headers = authorization(self.ctx, self.world, caller, endpoint.allowed)
        return self.send(endpoint.call(self.world, caller), headers)

    def snapshot(self) -> Snapshot:
        return snapshot(self.ctx, self.sandbox)

    def session(self) -> Session:
        return self.ctx.sessions()


@pytest.fixture
def api(ctx: AppContext, sandbox: SandboxControl) -> Iterator[Api]:
    world = build_world(ctx, sandbox)
    with TestClient(create_app(ctx)) as client:
        yield Api(ctx, sandbox, client, world)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def refusing_api(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template_file: Path,
    postgres_migrated: str | None,
) -> Iterator[Api]:
    """One world, per database kind, for all the refused calls.

    A refused call changes nothing, and each test checks that it did not, so every refusal
    can start from the same world instead of building its own (three invoicings). It lives
    in a database and a sandbox of its own, which the other tests' emptying and resets do
    not reach.
    """
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = fresh_sqlite(sqlite_template_file, tmp_path_factory.mktemp("refusals"))
        elif postgres_migrated is None:
            pytest.skip("TEST_DATABASE_URL is not set")
        else:
            url = stack.enter_context(scratch_postgres(postgres_migrated))
        base = stack.enter_context(running_sandbox("--retry-schedule", "0.05,0.1,0.2"))
        sandbox = SandboxControl(base)
        stack.callback(sandbox.http.close)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=url,
            stripe_secret_key=SecretStr("sk_test_refusals"),
            stripe_api_base=base,
            stripe_webhook_secret=SecretStr("whsec_placeholder_until_registered"),
        )
        ctx = AppContext.create(settings)
        stack.callback(ctx.close)
        ctx.gateway.rate_limit_backoff = 0.01
        world = build_world(ctx, sandbox)
        client = stack.enter_context(TestClient(create_app(ctx)))
        yield Api(ctx, sandbox, client, world)


def case_id(case: tuple[str, str]) -> str:
    return f"{case[0]}:{case[1]}"


# Refused


@pytest.mark.xdist_group("api_refusals")  # one worker builds the shared worlds
@pytest.mark.parametrize(("endpoint_name", "caller"), REFUSED, ids=map(case_id, REFUSED))
def test_a_refused_caller_gets_the_exact_answer_and_changes_nothing(
    refusing_api: Api, endpoint_name: str, caller: str
) -> None:
    api = refusing_api
    endpoint = BY_NAME[endpoint_name]
    status = expected(endpoint, caller)
    before = api.snapshot()

    response = api.as_caller(endpoint, caller)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == ERROR_CODES[status]
    assert error["message"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert ("expired" in error["message"]) == (caller == "expired")
    else:
        assert "www-authenticate" not in response.headers
    if status == 422:
        assert [f["field"] for f in error["fields"]] == ["body.customer_id"]
    assert api.snapshot() == before

    if status == 404:  # worded exactly as for an object that does not exist
        headers = authorization(api.ctx, api.world, caller, endpoint.allowed)
        absent = api.send(endpoint.missing(api.world, caller), headers)
        assert absent.status_code == 404
        real_id = str(endpoint.target(api.world))
        assert absent.json() == {
            "error": {**error, "message": error["message"].replace(real_id, str(MISSING))}
        }


# Allowed


def history_expectation(world: World, caller: str) -> set[int]:
    return {
        "customer (owner)": world.jobs_of(customer=world.customer),
        "customer (other)": set(),  # another customer's filter finds nothing of theirs
        "provider (owner)": world.jobs_of(provider=world.provider),
        "provider (other)": set(),
        "admin": world.jobs_of(),
        "finance": world.jobs_of(provider=world.provider),
    }[caller]


def notifications_of(world: World, caller: str) -> list[int]:
    """The caller's own notifications, newest first."""
    return {
        "customer (owner)": list(world.customer_notifications),
        "provider (owner)": [world.provider_notification],
    }.get(caller, [])


def read_ids(snap: Snapshot) -> set[int]:
    columns = [c.name for c in Notification.__table__.columns]
    id_at, read_at = columns.index("id"), columns.index("read_at")
    return {row[id_at] for row in snap.table("notifications") if row[read_at] is not None}


def audit_rows(snap: Snapshot) -> list[tuple[Any, ...]]:
    """(actor, action, job_id, result) of each audit row."""
    columns = [c.name for c in AuditLog.__table__.columns]
    picked = [columns.index(name) for name in ("actor", "action", "job_id", "result")]
    return [tuple(row[i] for i in picked) for row in snap.table("audit_log")]


@pytest.mark.parametrize(("endpoint_name", "caller"), ALLOWED, ids=map(case_id, ALLOWED))
def test_an_allowed_caller_gets_2xx_and_its_effect(
    api: Api, endpoint_name: str, caller: str
) -> None:
    endpoint = BY_NAME[endpoint_name]
    world = api.world
    label = actor_for(world, caller).label
    before = api.snapshot()

    response = api.as_caller(endpoint, caller)

    assert response.status_code == expected(endpoint, caller), response.text
    body = response.json()
    after = api.snapshot()
    new_audit = audit_rows(after)[len(audit_rows(before)) :]
    added_invoices = sorted(set(after.sandbox_invoices) - set(before.sandbox_invoices))

    if endpoint_name == "create":
        assert body["customer_id"] == world.customer  # the token's customer, always
        assert (body["provider_id"], body["service_id"]) == (world.provider, world.service)
        assert (body["status"], body["price"]) == ("new", 15000)
        assert body["payment"]["amount"] == 0 and body["payment"]["status"] == "pending"
        with api.session() as session:
            job = session.get(Job, body["id"])
            assert job is not None and job.customer_id == world.customer
        assert added_invoices == [] and new_audit == []
    elif endpoint_name == "complete":
        price = world.prices[world.new_job]
        assert body["job"]["status"] == "completed" and body["job"]["payment"]["amount"] == price
        assert body["invoicing_error"] is None
        assert (body["invoice"]["status"], body["invoice"]["amount_due"]) == ("open", price)
        assert [i[1:] for i in added_invoices] == [("open", world.new_job)]
        assert (label, "job.completed", world.new_job, "ok") in new_audit
    elif endpoint_name == "send-invoice":
        price = world.prices[world.uninvoiced_job]
        assert (body["status"], body["amount_due"], body["amount_paid"]) == ("open", price, 0)
        assert [i[1:] for i in added_invoices] == [("open", world.uninvoiced_job)]
        assert new_audit == [(label, "invoice.send", world.uninvoiced_job, "ok")]
    elif endpoint_name == "invoice":
        price = world.prices[world.invoiced_job]
        assert body["invoice_id"] == world.invoice_id
        assert (body["status"], body["amount_due"], body["overdue"]) == ("open", price, False)
        assert body["hosted_invoice_url"]
        assert after.sandbox_invoices == before.sandbox_invoices and new_audit == []
    elif endpoint_name == "resend-invoice":
        assert (body["invoice_id"], body["status"]) == (world.invoice_id, "open")
        assert after.sandbox_invoices == before.sandbox_invoices
        assert new_audit == [(label, "invoice.resend", world.invoiced_job, "ok")]
    elif endpoint_name == "earnings":
        outstanding = world.prices[world.uninvoiced_job] + world.prices[world.invoiced_job]
        assert body["provider_id"] == world.provider
        assert (body["balance"], body["jobs_paid"]) == (0, 0)
        assert (body["outstanding"], body["jobs_outstanding"]) == (outstanding, 2)
        assert len(body["by_month"]) == 12 and all(m["amount"] == 0 for m in body["by_month"])
    elif endpoint_name == "job":
        price = world.prices[world.invoiced_job]
        assert (body["id"], body["status"], body["price"]) == (
            world.invoiced_job,
            "completed",
            price,
        )
        assert body["invoice_status"] == "open" and body["money_back"]["refunds"] == []
        assert after.sandbox_invoices == before.sandbox_invoices and new_audit == []
    elif endpoint_name == "history":
        items = body["items"]
        assert {item["job_id"] for item in items} == history_expectation(world, caller)
        assert len(items) == len({item["payment_id"] for item in items})
        assert body["next_cursor"] is None
    elif endpoint_name == "notifications":
        own = notifications_of(world, caller)
        assert [item["id"] for item in body["items"]] == own
        assert all(item["read_at"] is None for item in body["items"])
        assert body["next_cursor"] is None
    elif endpoint_name == "notification-read":
        target = world.customer_notifications[0]
        assert (body["id"], body["kind"], body["job_id"]) == (
            target,
            "invoice_sent",
            world.invoiced_job,
        )
        assert body["read_at"] is not None
        assert new_audit == [(label, "notification.read", world.invoiced_job, "ok")]
        assert read_ids(after) - read_ids(before) == {target}
        again = api.as_caller(endpoint, caller)  # idempotent: same answer, nothing more
        assert again.status_code == 200 and again.json() == body
        assert api.snapshot() == after
    elif endpoint_name == "notifications-read-all":
        marked = set(notifications_of(world, caller))
        assert body == {"marked_read": len(marked)}
        assert read_ids(after) - read_ids(before) == marked
        assert new_audit == ([(label, "notification.read_all", None, "ok")] if marked else [])
    else:  # pragma: no cover
        pytest.fail(f"no expectation for {endpoint_name}")

    if endpoint_name in ("complete", "send-invoice", "resend-invoice"):
        assert after.stripe_writes != before.stripe_writes  # what refusals are checked against
    reads = ("invoice", "earnings", "history", "notifications", "job")
    if endpoint_name in reads:  # reads change nothing
        unchanged = {name for name in before.rows if name != "stripe_invoices"}
        assert {n: after.rows[n] for n in unchanged} == {n: before.rows[n] for n in unchanged}
        assert after.stripe_writes == before.stripe_writes


def test_the_matrix_covers_every_protected_endpoint_of_the_api() -> None:
    protected = {
        (method.upper(), path)
        for path, operations in create_app().openapi()["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert {(endpoint.method, endpoint.route) for endpoint in ENDPOINTS} == protected
    assert len(REFUSED) + len(ALLOWED) == len(ENDPOINTS) * (len(BAD_TOKENS) + len(ROLES))
