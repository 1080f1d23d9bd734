"""`GET /notifications`: a recipient's own rows, newest first, paged by cursor without skips
or repeats (even while rows are marked read between pages), `unread_only`, text as written,
bounded pages, and a forged cursor refused. Who may call what is in the access matrix."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.context import AppContext
from core.db.models import Notification
from core.db.session import session_scope
from core.identity.api_tokens import issue_token
from tests.support.factories import Market, marketplace
from webhook_service.app import create_app

with warnings.catch_warnings():  # Starlette's notice about httpx, not about this project
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
MARKUP = "<script>alert(1)</script> **bold** [link](https://evil.example)"


@pytest.fixture
def people(ctx: AppContext) -> Market:
    with session_scope(ctx.sessions) as session:
        customer, provider, service = marketplace(session)
        return Market(customer.id, provider.id, service.id)


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as client:
        yield client


def bearer(ctx: AppContext, role: str, subject: int) -> dict[str, str]:
    token = issue_token(ctx.settings, role=role, subject_id=subject, ttl=timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}"}


def add_notes(ctx: AppContext, kind: str, recipient: int, count: int) -> list[int]:
    """`count` notifications a minute apart but the last two, which share a moment (the
    tie is broken by id), the even-numbered ones read."""
    with session_scope(ctx.sessions) as session:
        rows = [
            Notification(
                recipient_kind=kind,
                recipient_id=recipient,
                kind="payment_confirmed",
                title=f"Note {n}",
                body=MARKUP,
                job_id=None,
                created_at=START + timedelta(minutes=min(n, count - 2)),
                read_at=START if n % 2 == 0 else None,
            )
            for n in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def newest_first(ctx: AppContext, kind: str, recipient: int, *, unread: bool = False) -> list[int]:
    """The recipient's ids as the API should order them, read straight from the table."""
    query = (
        select(Notification.id)
        .where(Notification.recipient_kind == kind, Notification.recipient_id == recipient)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )
    if unread:
        query = query.where(Notification.read_at.is_(None))
    with session_scope(ctx.readers) as session:
        return list(session.scalars(query))


def pages(client: TestClient, headers: dict[str, str], **params: object) -> list[list[int]]:
    found: list[list[int]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/notifications", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        found.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def test_pages_newest_first_own_only_and_unread_only(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    written = add_notes(ctx, "customer", people.customer_id, 7)
    add_notes(ctx, "provider", people.customer_id, 3)  # the same number, another recipient
    headers = bearer(ctx, "customer", people.customer_id)
    mine = newest_first(ctx, "customer", people.customer_id)
    assert sorted(mine) == sorted(written) and mine[:2] == [written[6], written[5]]

    assert pages(client, headers, limit=3) == [mine[:3], mine[3:6], mine[6:]]
    unread = newest_first(ctx, "customer", people.customer_id, unread=True)
    assert len(unread) == 3
    assert sum(pages(client, headers, limit=2, unread_only=True), []) == unread

    first = client.get("/notifications", params={"limit": 1}, headers=headers).json()["items"][0]
    assert (first["title"], first["body"], first["kind"]) == ("Note 6", MARKUP, "payment_confirmed")


def test_marking_read_between_pages_skips_nothing(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    add_notes(ctx, "provider", people.provider_id, 6)
    headers = bearer(ctx, "provider", people.provider_id)
    unread_before = newest_first(ctx, "provider", people.provider_id, unread=True)
    first = client.get("/notifications", params={"limit": 2, "unread_only": True}, headers=headers)
    page_one = [item["id"] for item in first.json()["items"]]
    for notification_id in page_one:
        response = client.post(f"/notifications/{notification_id}/read", headers=headers)
        assert response.status_code == 200 and response.json()["read_at"]
    rest = client.get(
        "/notifications",
        params={"limit": 10, "unread_only": True, "cursor": first.json()["next_cursor"]},
        headers=headers,
    )
    assert page_one + [item["id"] for item in rest.json()["items"]] == unread_before
    marked = client.post("/notifications/read-all", headers=headers)
    assert marked.json() == {"marked_read": len(unread_before) - 2}
    again = client.post("/notifications/read-all", headers=headers)
    assert again.json() == {"marked_read": 0}
    left = client.get("/notifications", params={"unread_only": True}, headers=headers)
    assert left.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 101}, "query.limit"),
        ({"unread_only": "maybe"}, "query.unread_only"),
    ],
)
def test_bad_paging_is_a_422_naming_the_field(
    ctx: AppContext, client: TestClient, people: Market, params: dict[str, object], field: str
) -> None:
    headers = bearer(ctx, "customer", people.customer_id)
    response = client.get("/notifications", params=params, headers=headers)
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


def test_a_cursor_not_given_out_is_refused(
    ctx: AppContext, client: TestClient, people: Market
) -> None:
    headers = bearer(ctx, "customer", people.customer_id)
    response = client.get("/notifications", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "the cursor is not one this API gave out"
