"""Schemathesis against the API's own `/openapi.json`: no 5xx, every answer as documented.

Each documented operation is fuzzed in-process (ASGI) with valid and invalid input, a
bounded number of examples each, on a seeded marketplace whose invoices live in the real
sandbox. Every response goes through Schemathesis's checks: no server error, a documented
status code, content type, headers and body matching the schema, invalid input refused,
valid input not refused, and bearer auth enforced (it replays successes without a token).

The webhook endpoint is left out: it answers 400 to anything Stripe did not sign, and its
own tests cover it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy import select

from core.billing.invoicing import process_job_payment
from core.context import AppContext
from core.db.models import Job
from core.db.session import session_scope
from core.identity.api_tokens import issue_token
from core.jobs.lifecycle import create_job
from core.seed import seed_demo
from tests.support.database import fresh_sqlite
from webhook_service.app import create_app

WEBHOOK_PATHS = {"/payments/stripe/webhook"}
MAX_EXAMPLES = 25
SEEDED_JOBS = 30
SEEDED_PROVIDERS = 6


def documented_operations() -> list[tuple[str, str]]:
    schema = create_app().openapi()  # no lifespan, so no database needed to read it
    return [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path not in WEBHOOK_PATHS
        for method in operations
    ]


OPERATIONS = documented_operations()


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template_file: Path) -> str:
    """SQLite only: this is about the HTTP contract, and it must stay fast in CI."""
    return fresh_sqlite(sqlite_template_file, tmp_path)


@dataclass(frozen=True)
class Seeded:
    ctx: AppContext
    targets: list[int]  # jobs where a call can succeed: invoiced ones, a new one of provider 1


@pytest.fixture
def seeded(ctx: AppContext) -> Iterator[Seeded]:
    """The demo marketplace, with a few completed jobs invoiced in the sandbox and a new
    job for provider 1, so that ids exist and calls on them can succeed."""
    with session_scope(ctx.sessions) as session:
        seed_demo(session, jobs=SEEDED_JOBS)
        completed = session.scalars(
            select(Job.id).where(Job.status == "completed").order_by(Job.id).limit(3)
        ).all()
        fresh = create_job(session, customer_id=1, provider_id=1, service_id=1, price=15000)
        targets = [*completed, fresh.id]
    assert completed, "the seed has no completed job to invoice"
    for job_id in completed:
        assert process_job_payment(ctx, job_id=job_id).status == "open"
    yield Seeded(ctx, targets)
    shutdown_lifespans()  # Schemathesis keeps each app's lifespan running until told


def caller_for(path: str) -> tuple[str, int | None]:
    """Someone who may succeed: a customer books and reads their notifications, a provider
    completes, an admin does the rest."""
    if path == "/jobs/create":
        return "customer", 1
    if path.startswith("/provider/jobs/"):
        return "provider", 1
    if path.startswith("/notifications"):  # a customer's own; staff have none
        return "customer", 1
    return "admin", None


def without_cursor(case: Case) -> Case:
    """The cursor is opaque: a valid one comes only from the API (its paging is tested
    elsewhere), and any other string is rightly a 422."""
    if case.query:
        case.query.pop("cursor", None)
    return case


def on_seeded_ids(operation: Any, path: str, targets: list[int]) -> st.SearchStrategy[Case]:
    """Valid requests on jobs and providers that exist, so that 2xx bodies get checked."""
    if "{job_id}" in path:
        ids, name = st.sampled_from(targets) | st.integers(1, SEEDED_JOBS + 1), "job_id"
    elif "{provider_id}" in path:
        ids, name = st.integers(1, SEEDED_PROVIDERS), "provider_id"
    else:
        return st.nothing()
    return ids.flatmap(
        lambda value: operation.as_strategy(
            generation_mode=GenerationMode.POSITIVE, path_parameters={name: value}
        )
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_answers_as_documented(seeded: Seeded, method: str, path: str) -> None:
    role, subject = caller_for(path)
    token = issue_token(seeded.ctx.settings, role=role, subject_id=subject, ttl=timedelta(hours=1))
    config = schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"HTTPBearer": {"bearer": token}}},
            # FastAPI ignores query parameters it does not know, as most APIs do.
            "generation": {"allow-extra-parameters": False},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(seeded.ctx), config=config)
    operation = schema[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE).map(without_cursor),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        on_seeded_ids(operation, path, seeded.targets),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every CI run
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def answers_as_documented(case: Case) -> None:
        case.call_and_validate()

    answers_as_documented()
