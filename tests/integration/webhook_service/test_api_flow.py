"""The REST API as its clients use it: a job from booking to paid through the API alone,
the 422 answers, money in cents, bearer tokens from the CLI, and the published docs.

The flow runs against the real webhook service (uvicorn, registered with the sandbox),
pays on the sandbox's hosted invoice page with a test card, and lets the sandbox deliver
the signed webhooks. The other tests call the app in-process.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import SecretStr
from sqlalchemy import func, select

from core.cli import main as cli_main
from core.config import get_settings
from core.context import AppContext
from core.db.models import Job, Notification, Payment, ServiceProvider, utcnow
from core.db.session import session_scope
from core.identity import api_tokens
from core.identity.api_tokens import issue_token
from core.money import MAX_PRICE_CENTS
from tests.conftest import LiveService
from tests.support.factories import marketplace, new_job
from tests.support.sandbox import SandboxControl
from webhook_service.app import create_app
from webhook_service.routes import health, job_view, jobs, notifications, payments, webhooks

with warnings.catch_warnings():  # Starlette's notice about httpx, not about this project
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

TEST_CARD = {"card_number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123"}


@dataclass(frozen=True)
class People:
    customer: int
    provider: int
    service: int


def add_people(ctx: AppContext) -> People:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        return People(customer.id, provider.id, service.id)


def bearer(ctx: AppContext, role: str, subject: int | None = None) -> dict[str, str]:
    token = issue_token(ctx.settings, role=role, subject_id=subject, ttl=timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}"}


def count_jobs(ctx: AppContext) -> int:
    with session_scope(ctx.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield client


# The whole flow


def test_a_job_goes_from_booked_to_paid_through_the_api_alone(
    ctx: AppContext, sandbox: SandboxControl, live_service: LiveService
) -> None:
    people = add_people(ctx)
    as_customer = bearer(ctx, "customer", people.customer)
    as_provider = bearer(ctx, "provider", people.provider)
    with httpx.Client(base_url=live_service.base, timeout=30) as api:
        job_id = book_complete_pay_and_check(api, sandbox, people, as_customer, as_provider)

    with session_scope(ctx.sessions) as session:
        row = session.get(Job, job_id)
        payment = session.scalars(select(Payment).where(Payment.job_id == job_id)).one()
        provider = session.get(ServiceProvider, people.provider)
        kinds = set(session.scalars(select(Notification.kind).where(Notification.job_id == job_id)))
        assert row is not None and row.status == "paid"
        assert (payment.status, payment.amount) == ("received", 15000)
        assert provider is not None and (provider.earnings, provider.total_jobs) == (15000, 1)
        assert {"payment_confirmed", "payment_received"} <= kinds


def book_complete_pay_and_check(
    api: httpx.Client,
    sandbox: SandboxControl,
    people: People,
    as_customer: dict[str, str],
    as_provider: dict[str, str],
) -> int:
    booked = api.post(
        "/jobs/create",
        headers=as_customer,
        json={
            "service_id": people.service,
            "provider_id": people.provider,
            "price": 15000,
            "description": "Leaky tap",
        },
    )
    assert booked.status_code == 201, booked.text
    job = booked.json()
    job_id = job["id"]
    assert (job["status"], job["price"], job["customer_id"]) == ("new", 15000, people.customer)
    assert job["payment"] == {
        "id": job["payment"]["id"],
        "amount": 0,
        "status": "pending",
        "method": None,
        "marked_at": None,
    }
    not_yet = api.get(f"/payments/jobs/{job_id}/invoice", headers=as_customer)
    assert not_yet.status_code == 404
    assert not_yet.json()["error"]["code"] == "not_found"

    completed = api.post(
        f"/provider/jobs/{job_id}/update-status",
        headers=as_provider,
        json={"action": "mark_complete"},
    )
    assert completed.status_code == 200, completed.text
    outcome = completed.json()
    assert outcome["invoicing_error"] is None
    assert outcome["job"]["status"] == "completed" and outcome["job"]["completed_at"]
    assert outcome["job"]["payment"]["amount"] == 15000
    sent = outcome["invoice"]
    assert (sent["status"], sent["amount_due"], sent["amount_paid"]) == ("open", 15000, 0)
    assert sent["currency"] == "usd" and sent["due_date"] and not sent["overdue"]

    shown = api.get(f"/payments/jobs/{job_id}/invoice", headers=as_customer).json()
    assert (shown["invoice_id"], shown["status"]) == (sent["invoice_id"], "open")
    owed = api.get(f"/payments/provider/{people.provider}/earnings", headers=as_provider).json()
    assert (owed["balance"], owed["outstanding"], owed["jobs_outstanding"]) == (0, 15000, 1)

    # The customer pays on the hosted page with a test card; the sandbox then delivers
    # invoice.paid (signed) to the webhook service.
    page = httpx.post(
        f"{shown['hosted_invoice_url']}/pay",
        data={**TEST_CARD, "name": "Ann Lee"},
        follow_redirects=True,
        timeout=30,
    )
    assert page.status_code == 200 and "Payment received" in page.text
    assert sandbox.drain() == 0

    paid = api.get(f"/payments/jobs/{job_id}/invoice", headers=as_customer).json()
    assert (paid["invoice_id"], paid["status"]) == (sent["invoice_id"], "paid")
    assert (paid["amount_paid"], paid["amount_due"]) == (15000, 15000)

    for headers in (as_provider, as_customer):
        history = api.get("/payments/history", headers=headers).json()
        assert [(i["job_id"], i["status"], i["method"], i["amount"]) for i in history["items"]] == [
            (job_id, "received", "stripe", 15000)
        ]
        assert history["items"][0]["job_status"] == "paid"
        assert history["items"][0]["marked_at"]

    earnings = api.get(f"/payments/provider/{people.provider}/earnings", headers=as_provider)
    totals = earnings.json()
    assert (totals["balance"], totals["jobs_paid"]) == (15000, 1)
    assert (totals["outstanding"], totals["jobs_outstanding"]) == (0, 0)
    assert totals["by_month"][-1]["amount"] == 15000 and totals["by_month"][-1]["payments"] == 1
    assert sum(month["amount"] for month in totals["by_month"]) == 15000

    # A paid job can be neither completed nor invoiced again.
    again = api.post(
        f"/provider/jobs/{job_id}/update-status",
        headers=as_provider,
        json={"action": "mark_complete"},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    for action in ("send-invoice", "resend-invoice"):
        refused = api.post(f"/payments/jobs/{job_id}/{action}", headers=as_provider)
        assert refused.status_code == 409, (action, refused.text)

    return int(job_id)


# 422: invalid input names its fields

VALID_JOB = {"service_id": 1, "provider_id": 1, "price": 15000, "description": "Leaky tap"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**VALID_JOB, "price": 0}, ["body.price"]),
        ({**VALID_JOB, "price": 49}, ["body.price"]),  # below Stripe's minimum charge
        ({**VALID_JOB, "price": -15000}, ["body.price"]),
        ({**VALID_JOB, "price": MAX_PRICE_CENTS + 1}, ["body.price"]),
        ({**VALID_JOB, "price": 150.5}, ["body.price"]),
        ({**VALID_JOB, "price": "a lot"}, ["body.price"]),
        ({**VALID_JOB, "price": True}, ["body.price"]),
        ({**VALID_JOB, "price": "15000"}, ["body.price"]),
        ({**VALID_JOB, "customer_id": 2}, ["body.customer_id"]),
        ({k: v for k, v in VALID_JOB.items() if k != "service_id"}, ["body.service_id"]),
        ({**VALID_JOB, "description": "x" * 2001}, ["body.description"]),
        ({**VALID_JOB, "provider_id": 0, "price": 0}, ["body.provider_id", "body.price"]),
    ],
    ids=[
        "price 0",
        "price below the minimum charge",
        "negative price",
        "price above the max",
        "fraction of a cent",
        "price not a number",
        "price a boolean",
        "price a numeric string",
        "extra field",
        "missing field",
        "description too long",
        "two fields",
    ],
)
def test_an_invalid_job_answers_422_naming_each_failing_field(
    ctx: AppContext, client: TestClient, body: dict[str, Any], fields: list[str]
) -> None:
    people = add_people(ctx)
    assert (people.customer, people.provider, people.service) == (1, 1, 1)

    response = client.post("/jobs/create", headers=bearer(ctx, "customer", 1), json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["message"]
    assert sorted(f["field"] for f in error["fields"]) == sorted(fields)
    assert all(f["message"] for f in error["fields"])
    assert count_jobs(ctx) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "cancel"}, "body.action"),
        ({}, "body.action"),
        ({"action": "mark_complete", "force": True}, "body.force"),
    ],
    ids=["action cancel", "no action", "extra field"],
)
def test_an_invalid_status_update_answers_422_and_leaves_the_job_new(
    ctx: AppContext, client: TestClient, body: dict[str, Any], field: str
) -> None:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        job_id = new_job(session, customer, provider, service).id
        provider_id = provider.id

    response = client.post(
        f"/provider/jobs/{job_id}/update-status",
        headers=bearer(ctx, "provider", provider_id),
        json=body,
    )

    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "new"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/payments/jobs/0/invoice", "path.job_id"),
        ("/payments/jobs/abc/invoice", "path.job_id"),
        (f"/payments/jobs/{2**31}/invoice", "path.job_id"),
        ("/payments/provider/-3/earnings", "path.provider_id"),
        ("/payments/history?limit=0", "query.limit"),
        ("/payments/history?limit=201", "query.limit"),
        ("/payments/history?status=paid", "query.status"),
        ("/payments/history?created_from=yesterday", "query.created_from"),
        ("/payments/history?provider_id=0", "query.provider_id"),
    ],
)
def test_invalid_path_and_query_values_answer_422_naming_them(
    ctx: AppContext, client: TestClient, url: str, field: str
) -> None:
    response = client.get(url, headers=bearer(ctx, "admin"))

    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


def test_a_body_that_is_not_json_answers_422_not_an_undocumented_400(
    ctx: AppContext, client: TestClient
) -> None:
    """Bytes that are not UTF-8 are as invalid as any other broken JSON."""
    add_people(ctx)
    headers = {**bearer(ctx, "customer", 1), "content-type": "application/json"}
    documented = create_app().openapi()["paths"]["/jobs/create"]["post"]["responses"]

    for content in (b'{"price": 15000', b'{"price": "\xff"}', b"\x80"):
        response = client.post("/jobs/create", headers=headers, content=content)
        assert str(response.status_code) in documented, (content, response.text)
        assert response.status_code == 422, (content, response.text)
        assert response.json()["error"]["code"] == "invalid_input"
    assert count_jobs(ctx) == 0


def test_without_a_token_an_invalid_job_is_refused_as_unauthenticated(
    ctx: AppContext, client: TestClient
) -> None:
    response = client.post("/jobs/create", json={**VALID_JOB, "price": 0})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert count_jobs(ctx) == 0


# Money: whole cents, positive, bounded


@pytest.mark.parametrize("price", [50, 15000, MAX_PRICE_CENTS])
def test_prices_are_whole_cents_up_to_the_maximum(
    ctx: AppContext, client: TestClient, price: int
) -> None:
    people = add_people(ctx)

    response = client.post(
        "/jobs/create",
        headers=bearer(ctx, "customer", people.customer),
        json={**VALID_JOB, "price": price},
    )

    assert response.status_code == 201, response.text
    assert f'"price":{price},' in response.text  # an integer, not 150.0 or "150.00"
    with session_scope(ctx.sessions) as session:
        job = session.get(Job, response.json()["id"])
        assert job is not None and job.price == price


def test_history_pages_with_its_cursor_newest_first(ctx: AppContext, client: TestClient) -> None:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        ids = [new_job(session, customer, provider, service, price=p).id for p in (100, 200, 300)]
    headers = bearer(ctx, "provider", 1)

    seen: list[int] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/payments/history", headers=headers, params=params).json()
        seen += [item["job_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def forged_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": forged_cursor({"created": "2026-01-01"})},
        {"cursor": forged_cursor(["2026-01-01T00:00:00+00:00", 10**30])},
        {"cursor": forged_cursor(["2026-01-01T00:00:00", 3])},
        {"cursor": base64.urlsafe_b64encode(b'["2026-01-01T00:00:00+00:00", 1e999]').decode()},
        {"created_to": "9999-12-31"},
    ],
    ids=[
        "garbage cursor",
        "cursor of the wrong shape",
        "cursor id beyond 64 bits",
        "cursor without a time zone",
        "cursor id infinite",
        "created_to the last day",
    ],
)
def test_history_answers_a_forged_cursor_or_extreme_date_without_a_server_error(
    ctx: AppContext, client: TestClient, query: dict[str, str]
) -> None:
    """A cursor the API did not give out is a 422; no query value may cause a 500."""
    add_people(ctx)

    response = client.get("/payments/history", headers=bearer(ctx, "admin"), params=query)

    assert response.status_code < 500, response.text
    if "cursor" in query:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_input"
    else:
        assert response.status_code in (200, 422), response.text


# Tokens


@pytest.fixture
def cli_secret(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI and the app share APP_SECRET_KEY; the CLI reads it from the environment."""
    secret = "api-flow-tests-" + "s" * 40
    ctx.settings.app_secret_key = SecretStr(secret)
    monkeypatch.setenv("APP_SECRET_KEY", secret)
    monkeypatch.setenv("DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("STRIPE_API_BASE", ctx.settings.stripe_api_base or "")
    get_settings.cache_clear()
    yield secret
    get_settings.cache_clear()


def cli_token(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli_main(["token", *args]) == 0
    return capsys.readouterr().out.strip()


def test_a_token_from_the_cli_is_accepted_and_speaks_for_its_provider(
    ctx: AppContext, client: TestClient, cli_secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    people = add_people(ctx)
    token = cli_token(capsys, "--role", "provider", "--id", str(people.provider))
    headers = {"Authorization": f"Bearer {token}"}

    mine = client.get(f"/payments/provider/{people.provider}/earnings", headers=headers)
    assert mine.status_code == 200 and mine.json()["provider_id"] == people.provider
    theirs = client.get(f"/payments/provider/{people.provider + 1}/earnings", headers=headers)
    assert theirs.status_code == 404
    booking = client.post("/jobs/create", headers=headers, json=VALID_JOB)
    assert booking.status_code == 403  # a provider token, not a customer one

    assert cli_main(["token", "--role", "admin", "--json"]) == 0
    issued = json.loads(capsys.readouterr().out)
    assert issued["role"] == "admin"
    admin = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/payments/history", headers=admin).status_code == 200


def test_a_token_signed_with_another_secret_is_refused(
    ctx: AppContext,
    client: TestClient,
    cli_secret: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_people(ctx)
    monkeypatch.setenv("APP_SECRET_KEY", "another-deployment-" + "o" * 40)
    get_settings.cache_clear()
    token = cli_token(capsys, "--role", "provider", "--id", "1")

    response = client.get(
        "/payments/provider/1/earnings", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "not_authenticated",
        "message": "The token is not valid.",
    }


def test_a_token_is_refused_once_it_has_expired(
    ctx: AppContext,
    client: TestClient,
    cli_secret: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_people(ctx)
    # The clock tokens are issued and read by (the CLI's and the app's): at a whole second,
    # so the token's one-second life is exactly one second on it.
    clock = [utcnow().replace(microsecond=0)]
    monkeypatch.setattr(api_tokens, "utcnow", lambda: clock[0])
    token = cli_token(capsys, "--role", "provider", "--id", "1", "--ttl", "1s")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/payments/provider/1/earnings", headers=headers).status_code == 200
    clock[0] += timedelta(milliseconds=999)
    assert client.get("/payments/provider/1/earnings", headers=headers).status_code == 200

    clock[0] += timedelta(milliseconds=1)
    response = client.get("/payments/provider/1/earnings", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "not_authenticated" and "expired" in error["message"]


# The published description


PROTECTED = {
    ("post", "/jobs/create"),
    ("post", "/provider/jobs/{job_id}/update-status"),
    ("get", "/jobs/{job_id}"),
    ("get", "/jobs/{job_id}/refunds/preview"),
    ("post", "/jobs/{job_id}/refunds"),
    ("post", "/payments/jobs/{job_id}/send-invoice"),
    ("get", "/payments/jobs/{job_id}/invoice"),
    ("post", "/payments/jobs/{job_id}/resend-invoice"),
    ("get", "/payments/provider/{provider_id}/earnings"),
    ("get", "/payments/history"),
    ("get", "/notifications"),
    ("post", "/notifications/{notification_id}/read"),
    ("post", "/notifications/read-all"),
}
OPEN = {("get", "/healthz"), ("get", "/readyz"), ("post", "/payments/stripe/webhook")}


@pytest.fixture
def docs_client() -> TestClient:
    """No lifespan, so no database: the reference needs none."""
    return TestClient(create_app())


def test_openapi_describes_every_endpoint_its_bearer_scheme_and_its_errors(
    docs_client: TestClient,
) -> None:
    schema = docs_client.get("/openapi.json").json()
    operations = {
        (method, path): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == PROTECTED | OPEN
    routes = {
        (method.lower(), route.path)
        for module in (health, jobs, job_view, notifications, payments, webhooks)
        for route in module.router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }
    assert routes == set(operations)  # every route the app serves is described

    assert schema["components"]["securitySchemes"] == {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `python -m core.cli token`",
        }
    }
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for key, operation in operations.items():
        assert operation.get("summary"), key
        if key in OPEN:
            assert "security" not in operation, key
            continue
        assert operation["security"] == [{"HTTPBearer": []}], key
        # 422 where there is input to refuse; 404 where it names something that may not be
        # there (an id in the path, or a POST's input).
        takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
        wanted = {"401", "403"} | ({"422"} if takes_input else set())
        if "{" in key[1] or (key[0] == "post" and takes_input):
            wanted.add("404")
        assert wanted <= set(operation["responses"]), key
        for status in wanted:
            answer = operation["responses"][status]
            assert answer["description"], (key, status)
            assert answer["content"]["application/json"]["schema"] == error_body, (key, status)

    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message"} <= set(detail["required"])
    price = schema["components"]["schemas"]["JobCreate"]["properties"]["price"]
    assert price["type"] == "integer"
    assert (price["minimum"], price["maximum"]) == (50, MAX_PRICE_CENTS)  # Stripe's minimum, USD
    assert "cents" in price["description"]


def test_docs_page_serves_the_reference(docs_client: TestClient) -> None:
    page = docs_client.get("/docs")

    assert page.status_code == 200
    assert "swagger-ui" in page.text and "/openapi.json" in page.text
