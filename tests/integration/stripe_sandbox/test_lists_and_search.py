"""Lists, cursors, filters and search through the official SDK, against a real sandbox."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.support.sandbox import SandboxControl, running_sandbox

COUNT = 25


def loose(params: dict[str, Any]) -> Any:
    """Params the SDK's TypedDicts would not allow."""
    return params


def make_customers(client: stripe.StripeClient, count: int = COUNT) -> list[str]:
    """`count` customers; returns their ids newest first, the order lists use."""
    ids = [
        client.v1.customers.create(
            params={
                "name": f"Customer {n:02d}",
                "email": f"c{n:02d}@example.com",
                "metadata": {"user_id": str(n), "tier": "gold" if n % 5 == 0 else "basic"},
            }
        ).id
        for n in range(count)
    ]
    return list(reversed(ids))


def make_invoices(client: stripe.StripeClient, customer_id: str, count: int = COUNT) -> list[str]:
    """`count` draft invoices for one customer, newest first."""
    ids = [
        client.v1.invoices.create(
            params={"customer": customer_id, "metadata": {"job_id": f"J{n}"}}
        ).id
        for n in range(count)
    ]
    return list(reversed(ids))


def ids(page: Any) -> list[str]:
    return [obj.id for obj in page.data]


# Lists and cursors


def test_customer_list_is_newest_first_with_default_limit_ten(sandbox: SandboxControl) -> None:
    expected = make_customers(sandbox.client)

    page = sandbox.client.v1.customers.list()
    everything = sandbox.client.v1.customers.list(params={"limit": 100})

    assert (ids(page), page.has_more) == (expected[:10], True)
    assert (ids(everything), everything.has_more) == (expected, False)
    assert page.url == "/v1/customers"


def test_invoice_list_is_newest_first(sandbox: SandboxControl) -> None:
    customer = sandbox.client.v1.customers.create()
    expected = make_invoices(sandbox.client, customer.id)

    page = sandbox.client.v1.invoices.list(params={"limit": 100})

    assert (ids(page), page.has_more) == (expected, False)


@pytest.mark.parametrize("limit", [1, 24, 25, 100])
def test_limit_bounds_the_page(sandbox: SandboxControl, limit: int) -> None:
    expected = make_customers(sandbox.client)

    page = sandbox.client.v1.customers.list(params={"limit": limit})

    assert ids(page) == expected[:limit]
    assert page.has_more is (limit < COUNT)


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_outside_1_to_100_is_refused(sandbox: SandboxControl, limit: int) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.customers.list(params={"limit": limit})
    assert (caught.value.http_status, caught.value.param) == (400, "limit")


def test_starting_after_walks_to_older_pages(sandbox: SandboxControl) -> None:
    client = sandbox.client
    expected = make_customers(client)

    first = client.v1.customers.list(params={"limit": 10})
    second = client.v1.customers.list(params={"limit": 10, "starting_after": first.data[-1].id})
    third = client.v1.customers.list(params={"limit": 10, "starting_after": second.data[-1].id})

    assert (ids(first), first.has_more) == (expected[:10], True)
    assert (ids(second), second.has_more) == (expected[10:20], True)
    assert (ids(third), third.has_more) == (expected[20:], False)


def test_ending_before_returns_the_newer_page_next_to_the_cursor(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    expected = make_customers(client)

    middle = client.v1.customers.list(params={"limit": 10, "ending_before": expected[20]})
    top = client.v1.customers.list(params={"limit": 10, "ending_before": expected[10]})
    short = client.v1.customers.list(params={"limit": 10, "ending_before": expected[3]})
    newest = client.v1.customers.list(params={"ending_before": expected[0]})

    assert (ids(middle), middle.has_more) == (expected[10:20], True)
    assert (ids(top), top.has_more) == (expected[:10], False)
    assert (ids(short), short.has_more) == (expected[:3], False)
    assert (ids(newest), newest.has_more) == ([], False)


def test_cursors_are_refused_together_and_when_unknown(sandbox: SandboxControl) -> None:
    client = sandbox.client
    expected = make_customers(client, 3)

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.list(
            params={"starting_after": expected[0], "ending_before": expected[2]}
        )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.list(params={"starting_after": "cus_doesnotexist"})
    assert (caught.value.http_status, caught.value.code, caught.value.param) == (
        400,
        "resource_missing",
        "starting_after",
    )


def test_auto_paging_iter_returns_everything_exactly_once(sandbox: SandboxControl) -> None:
    client = sandbox.client
    expected = make_customers(client)
    customer = client.v1.customers.create()
    invoices = make_invoices(client, customer.id)
    expected = [customer.id, *expected]

    customers = [c.id for c in client.v1.customers.list(params={"limit": 7}).auto_paging_iter()]
    walked_invoices = [
        i.id for i in client.v1.invoices.list(params={"limit": 4}).auto_paging_iter()
    ]

    assert customers == expected
    assert walked_invoices == invoices


def test_auto_paging_iter_from_ending_before_walks_towards_newer(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    expected = make_customers(client)

    walked = [
        c.id
        for c in client.v1.customers.list(
            params={"limit": 5, "ending_before": expected[20]}
        ).auto_paging_iter()
    ]

    assert walked == list(reversed(expected[:20]))


# Filters


def test_invoice_list_filters_by_customer(sandbox: SandboxControl) -> None:
    client = sandbox.client
    ann = client.v1.customers.create(params={"name": "Ann"})
    bob = client.v1.customers.create(params={"name": "Bob"})
    anns = make_invoices(client, ann.id, 4)
    bobs = make_invoices(client, bob.id, 3)

    assert ids(client.v1.invoices.list(params={"customer": ann.id})) == anns
    assert ids(client.v1.invoices.list(params={"customer": bob.id})) == bobs
    walked = client.v1.invoices.list(params={"customer": ann.id, "limit": 3}).auto_paging_iter()
    assert [i.id for i in walked] == anns


def test_invoice_list_filters_by_status(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create()
    draft, to_open, to_pay, to_void = reversed(make_invoices(client, customer.id, 4))
    for invoice_id in (to_open, to_pay, to_void):
        client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": invoice_id, "amount": 1000}
        )
        client.v1.invoices.finalize_invoice(invoice_id)
    client.v1.invoices.pay(to_pay, params={"payment_method": "pm_card_visa"})
    client.v1.invoices.void_invoice(to_void)

    def with_status(status: str) -> list[str]:
        return ids(client.v1.invoices.list(params=loose({"status": status})))

    assert with_status("draft") == [draft]
    assert with_status("open") == [to_open]
    assert with_status("paid") == [to_pay]
    assert with_status("void") == [to_void]
    assert with_status("uncollectible") == []
    with pytest.raises(stripe.InvalidRequestError) as caught:
        with_status("finalized")
    assert caught.value.param == "status"


def test_invoice_list_filters_by_created_range(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create()
    older = make_invoices(client, customer.id, 3)
    sandbox.advance_clock(1000)
    newer = make_invoices(client, customer.id, 3)
    boundary = client.v1.invoices.retrieve(newer[-1]).created

    since = client.v1.invoices.list(params={"created": {"gte": boundary}})
    before = client.v1.invoices.list(params={"created": {"lt": boundary}})
    exactly = client.v1.invoices.list(params={"created": boundary})
    window = client.v1.invoices.list(params={"created": {"gt": boundary - 1, "lte": boundary + 60}})

    assert ids(since) == newer
    assert ids(before) == older
    # The batch may straddle a second: `created=T` is exactly that second.
    assert newer[-1] in ids(exactly)
    assert set(ids(exactly)) <= set(newer)
    assert ids(window) == newer


def test_customer_list_filters_by_email(sandbox: SandboxControl) -> None:
    client = sandbox.client
    expected = make_customers(client, 6)
    twin = client.v1.customers.create(params={"email": "c03@example.com"})

    found = client.v1.customers.list(params={"email": "c03@example.com"})

    assert ids(found) == [twin.id, expected[2]]
    assert ids(client.v1.customers.list(params={"email": "nobody@example.com"})) == []


def test_customer_list_filters_by_created(sandbox: SandboxControl) -> None:
    client = sandbox.client
    older = make_customers(client, 4)
    sandbox.advance_clock(500)
    newer = make_customers(client, 2)
    boundary = client.v1.customers.retrieve(newer[-1]).created

    assert ids(client.v1.customers.list(params={"created": {"gte": boundary}})) == newer
    assert ids(client.v1.customers.list(params={"created": {"lt": boundary}})) == older


def test_events_filter_by_type_wildcard_and_types(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create()
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 500}
    )
    client.v1.invoices.finalize_invoice(invoice.id)

    def types(params: dict[str, Any]) -> list[str]:
        listing = client.v1.events.list(params=loose({"limit": 100, **params}))
        return [event.type for event in reversed(listing.data)]

    assert types({}) == [
        "customer.created",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
        "invoice.finalized",
        "invoice.updated",
    ]
    assert types({"type": "invoice.finalized"}) == ["invoice.finalized"]
    # `invoice.*` means invoice events: not invoiceitem.created, not customer.created.
    assert types({"type": "invoice.*"}) == [
        "invoice.created",
        "invoice.updated",
        "invoice.finalized",
        "invoice.updated",
    ]
    assert types({"types": ["customer.created", "invoiceitem.created"]}) == [
        "customer.created",
        "invoiceitem.created",
    ]
    assert types({"types": ["customer.*", "invoice.finalized"]}) == [
        "customer.created",
        "invoice.finalized",
    ]
    assert types({"type": "charge.*"}) == []
    with pytest.raises(stripe.InvalidRequestError):
        types({"type": "invoice.created", "types": ["customer.created"]})


def test_event_list_pages_with_a_type_filter(sandbox: SandboxControl) -> None:
    client = sandbox.client
    make_customers(client, 12)
    client.v1.invoices.create(params={"customer": client.v1.customers.create().id})

    walked = list(
        client.v1.events.list(params={"type": "customer.created", "limit": 5}).auto_paging_iter()
    )

    assert len(walked) == 13
    assert len({event.id for event in walked}) == 13
    assert {event.type for event in walked} == {"customer.created"}


def test_list_with_expanded_customer_does_not_change_the_stored_invoice(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann"})
    invoice = client.v1.invoices.create(params={"customer": customer.id})

    expanded = client.v1.invoices.list(params={"expand": ["data.customer"]})

    first = expanded.data[0].customer
    assert isinstance(first, stripe.Customer) and first.id == customer.id
    assert client.v1.invoices.retrieve(invoice.id).customer == customer.id
    assert ids(client.v1.invoices.list(params={"customer": customer.id})) == [invoice.id]


def test_lists_and_search_show_no_private_fields(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"metadata": {"user_id": "1"}})
    client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 3,
            "metadata": {"job_id": "J1"},
        }
    )
    client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
    )
    auth = {"Authorization": "Bearer sk_test_lists"}

    for path, query in [
        ("/v1/invoices", {}),
        ("/v1/invoices/search", {"query": "metadata['job_id']:'J1'"}),
        ("/v1/customers", {}),
        ("/v1/webhook_endpoints", {}),
    ]:
        body = sandbox.http.get(path, params=query, headers=auth).json()
        assert body["data"], path
        for item in body["data"]:
            hidden = [key for key in item if key.startswith("_")]
            assert hidden == [], f"{path} shows {hidden}"
            # Stripe shows a webhook endpoint's signing secret only when it is created.
            assert "secret" not in item, path


# Search


def test_customer_search_by_metadata_email_and_name(sandbox: SandboxControl) -> None:
    client = sandbox.client
    expected = make_customers(client)
    by_n = {n: expected[COUNT - 1 - n] for n in range(COUNT)}

    def search(query: str) -> set[str]:
        return set(ids(client.v1.customers.search(params={"query": query, "limit": 100})))

    assert search("metadata['user_id']:'7'") == {by_n[7]}
    assert search('metadata["user_id"]:"7"') == {by_n[7]}
    assert search("email:'c12@example.com'") == {by_n[12]}
    assert search("name:'Customer 03'") == {by_n[3]}
    assert search("metadata['user_id']:'999'") == set()
    assert search("metadata['tier']:'gold'") == {by_n[n] for n in (0, 5, 10, 15, 20)}


def test_customer_search_with_and_or(sandbox: SandboxControl) -> None:
    client = sandbox.client
    expected = make_customers(client)
    by_n = {n: expected[COUNT - 1 - n] for n in range(COUNT)}

    def search(query: str) -> set[str]:
        return set(ids(client.v1.customers.search(params={"query": query, "limit": 100})))

    assert search("metadata['tier']:'gold' AND email:'c10@example.com'") == {by_n[10]}
    assert search("metadata['tier']:'gold' AND email:'c11@example.com'") == set()
    assert search("email:'c01@example.com' OR email:'c02@example.com'") == {by_n[1], by_n[2]}
    assert search("metadata['user_id']:'4' OR metadata['user_id']:'9'") == {by_n[4], by_n[9]}


def test_search_mixing_and_with_or_is_refused(sandbox: SandboxControl) -> None:
    make_customers(sandbox.client, 2)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.customers.search(
            params={
                "query": "email:'c01@example.com' OR email:'c00@example.com' AND name:'Customer 00'"
            }
        )
    assert (caught.value.http_status, caught.value.param) == (400, "query")


@pytest.mark.parametrize(
    ("resource", "query"),
    [
        ("customers", "favourite_colour:'blue'"),
        ("invoices", "email:'c01@example.com'"),
        ("invoices", "amount_due>100"),
    ],
)
def test_search_on_an_unsupported_field_is_refused(
    sandbox: SandboxControl, resource: str, query: str
) -> None:
    service = getattr(sandbox.client.v1, resource)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        service.search(params={"query": query})
    assert caught.value.param == "query"
    assert "unsupported search field" in (caught.value.user_message or "")


def test_invoice_search_by_metadata_and_status(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create()
    open_one, draft_one, other_job = (
        client.v1.invoices.create(params={"customer": customer.id, "metadata": {"job_id": job}}).id
        for job in ("J5", "J5", "J6")
    )
    for invoice_id in (open_one, other_job):
        client.v1.invoice_items.create(
            params={"customer": customer.id, "invoice": invoice_id, "amount": 2000}
        )
        client.v1.invoices.finalize_invoice(invoice_id)

    def search(query: str) -> set[str]:
        return set(ids(client.v1.invoices.search(params={"query": query})))

    assert search("metadata['job_id']:'J5' AND status:'open'") == {open_one}
    assert search("metadata['job_id']:'J5' AND status:'draft'") == {draft_one}
    assert search("metadata['job_id']:'J5'") == {open_one, draft_one}
    assert search(f"customer:'{customer.id}' AND status:'open'") == {open_one, other_job}
    assert search("metadata['job_id']:'J5' AND -status:'draft'") == {open_one}
    assert search("total>1999 AND total<2001") == {open_one, other_job}


def test_search_pages_with_next_page(sandbox: SandboxControl) -> None:
    client = sandbox.client
    make_customers(client)
    query = "metadata['tier']:'basic'"  # 20 of the 25

    seen: list[str] = []
    page = client.v1.customers.search(params={"query": query, "limit": 6})
    pages = 1
    while page.has_more:
        assert page.next_page
        seen += ids(page)
        page = client.v1.customers.search(
            params={"query": query, "limit": 6, "page": page.next_page}
        )
        pages += 1
    seen += ids(page)

    assert page.next_page is None
    assert pages == 4
    assert len(seen) == 20
    assert len(set(seen)) == 20
    walked = [
        c.id
        for c in client.v1.customers.search(params={"query": query, "limit": 6}).auto_paging_iter()
    ]
    assert walked == seen


def test_search_refuses_a_bad_page_token_and_limit(sandbox: SandboxControl) -> None:
    client = sandbox.client
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.search(params={"query": "email:'x@example.com'", "page": "garbage"})
    assert caught.value.param == "page"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.search(params={"query": "email:'x@example.com'", "limit": 101})
    assert caught.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.search(params=loose({}))
    assert caught.value.param == "query"


def test_search_lag_hides_new_objects_from_search_but_not_from_retrieve_or_list() -> None:
    with running_sandbox("--search-lag", "30") as base:
        lagging = SandboxControl(base)
        try:
            client = lagging.client
            customer = client.v1.customers.create(
                params={"email": "late@example.com", "metadata": {"user_id": "77"}}
            )

            by_email = client.v1.customers.search(params={"query": "email:'late@example.com'"})
            by_metadata = client.v1.customers.search(params={"query": "metadata['user_id']:'77'"})
            assert ids(by_email) == []
            assert ids(by_metadata) == []
            assert client.v1.customers.retrieve(customer.id).email == "late@example.com"
            assert ids(client.v1.customers.list()) == [customer.id]
            assert ids(client.v1.customers.list(params={"email": "late@example.com"})) == [
                customer.id
            ]

            # Once the index has caught up, search finds it.
            lagging.advance_clock(31)
            found = client.v1.customers.search(params={"query": "email:'late@example.com'"})
            assert ids(found) == [customer.id]
        finally:
            lagging.http.close()
