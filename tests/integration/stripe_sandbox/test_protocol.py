"""Stripe's wire protocol as the sandbox speaks it: auth, errors, idempotency, encoding, faults.

SDK calls check that each answer maps onto the exception the official SDK raises for real
Stripe; raw httpx calls check the bytes on the wire.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import stripe

from tests.support.sandbox import TEST_KEY, SandboxControl

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def loose(params: dict[str, Any]) -> Any:
    """Params the SDK's TypedDicts would not allow (wrong types, extra keys)."""
    return params


def customer_count(sandbox: SandboxControl) -> int:
    return len(sandbox.client.v1.customers.list(params={"limit": 100}).data)


def event_count(sandbox: SandboxControl, event_type: str) -> int:
    return len(sandbox.client.v1.events.list(params={"type": event_type, "limit": 100}).data)


def armed_faults(sandbox: SandboxControl) -> list[dict[str, Any]]:
    return list(sandbox.http.get("/_sandbox/faults").json()["faults"])


# Authentication


def test_request_without_api_key_is_401(sandbox: SandboxControl) -> None:
    response = sandbox.http.post("/v1/customers", content="name=Ann", headers=FORM)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]
    assert customer_count(sandbox) == 0


def test_sdk_with_an_empty_key_raises_authentication_error(sandbox: SandboxControl) -> None:
    client = sandbox.stripe_client("")

    with pytest.raises(stripe.AuthenticationError) as caught:
        client.v1.customers.create(params={"name": "Ann"})

    assert caught.value.http_status == 401
    assert customer_count(sandbox) == 0


@pytest.mark.parametrize(
    "key", ["sk_live_51Habcdefghijklmnop", "pk_test_51Habcdefghijklmnop", "rk_test_abcdefghijkl"]
)
def test_non_sk_test_keys_raise_authentication_error(sandbox: SandboxControl, key: str) -> None:
    client = sandbox.stripe_client(key)

    with pytest.raises(stripe.AuthenticationError) as caught:
        client.v1.customers.list()

    assert caught.value.http_status == 401
    # Like Stripe, the answer does not echo the whole key back.
    assert key not in (caught.value.user_message or "")


def test_basic_auth_with_a_test_key_works(sandbox: SandboxControl) -> None:
    created = sandbox.http.post(
        "/v1/customers", content="name=Ann", headers=FORM, auth=(TEST_KEY, "")
    )
    live = sandbox.http.get("/v1/customers", auth=("sk_live_abcdefghijklmnop", ""))

    assert created.status_code == 200
    assert created.json()["name"] == "Ann"
    assert live.status_code == 401
    token = base64.b64encode(f"{TEST_KEY}:".encode()).decode()
    listed = sandbox.http.get("/v1/customers", headers={"Authorization": f"Basic {token}"})
    assert [c["id"] for c in listed.json()["data"]] == [created.json()["id"]]


# Errors and their SDK exceptions


def test_unknown_parameter_is_refused_by_name(sandbox: SandboxControl) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.customers.create(params=loose({"name": "Ann", "foo": "bar"}))

    error = caught.value
    assert error.http_status == 400
    assert error.user_message == "Received unknown parameter: foo"
    assert (error.param, error.code) == ("foo", "parameter_unknown")
    assert customer_count(sandbox) == 0


def test_nested_unknown_parameter_is_refused_by_its_bracket_name(
    sandbox: SandboxControl,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.customers.list(params=loose({"created": {"foo": "1"}}))

    assert caught.value.user_message == "Received unknown parameter: created[foo]"
    assert caught.value.param == "created[foo]"


@pytest.mark.parametrize(
    ("resource", "params", "missing"),
    [
        ("invoices", {}, "customer"),
        ("invoice_items", {"customer": "cus_x"}, "amount"),
        ("webhook_endpoints", {"enabled_events": ["*"]}, "url"),
    ],
)
def test_missing_required_parameter_is_named(
    sandbox: SandboxControl, resource: str, params: dict[str, Any], missing: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        getattr(sandbox.client.v1, resource).create(params=params)

    assert caught.value.http_status == 400
    assert caught.value.param == missing
    assert caught.value.code == "parameter_missing"
    assert caught.value.user_message == f"Missing required param: {missing}."


@pytest.mark.parametrize("value", ["soon", "1.5", "7days"])
def test_bad_integer_is_refused_with_its_param(sandbox: SandboxControl, value: str) -> None:
    customer = sandbox.client.v1.customers.create()

    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.invoices.create(
            params=loose(
                {
                    "customer": customer.id,
                    "collection_method": "send_invoice",
                    "days_until_due": value,
                }
            )
        )

    assert caught.value.param == "days_until_due"
    assert caught.value.user_message == f"Invalid integer: {value}"
    assert sandbox.client.v1.invoices.list().data == []


def test_missing_object_in_the_path_is_404_resource_missing(sandbox: SandboxControl) -> None:
    for retrieve, object_id in [
        (sandbox.client.v1.customers.retrieve, "cus_doesnotexist"),
        (sandbox.client.v1.invoices.retrieve, "in_doesnotexist"),
        (sandbox.client.v1.events.retrieve, "evt_doesnotexist"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            retrieve(object_id)
        assert caught.value.http_status == 404
        assert caught.value.code == "resource_missing"
        assert object_id in (caught.value.user_message or "")


def test_missing_object_named_in_a_parameter_is_400_with_that_param(
    sandbox: SandboxControl,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.v1.invoices.create(params={"customer": "cus_doesnotexist"})

    assert (caught.value.http_status, caught.value.code, caught.value.param) == (
        400,
        "resource_missing",
        "customer",
    )


def test_declined_card_is_card_error_402(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create()
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 100}
    )
    client.v1.invoices.finalize_invoice(invoice.id)

    with pytest.raises(stripe.CardError) as caught:
        client.v1.invoices.pay(
            invoice.id, params={"payment_method": "pm_card_chargeDeclinedInsufficientFunds"}
        )

    assert caught.value.http_status == 402
    assert caught.value.code == "card_declined"
    assert caught.value.error is not None
    assert caught.value.error.decline_code == "insufficient_funds"


def test_injected_402_is_card_error(sandbox: SandboxControl) -> None:
    sandbox.fault("/v1/customers", method="POST", status=402)

    with pytest.raises(stripe.CardError) as caught:
        sandbox.client.v1.customers.create()

    assert caught.value.http_status == 402
    assert customer_count(sandbox) == 0


def test_injected_429_is_rate_limit_error(sandbox: SandboxControl) -> None:
    sandbox.fault("/v1/customers", method="GET", status=429)

    with pytest.raises(stripe.RateLimitError) as caught:
        sandbox.client.v1.customers.list()

    assert caught.value.http_status == 429
    assert sandbox.client.v1.customers.list().data == []  # the fault is used up


@pytest.mark.parametrize("status", [500, 502, 503])
def test_injected_5xx_is_api_error(sandbox: SandboxControl, status: int) -> None:
    sandbox.fault("/v1/customers", method="POST", status=status)

    with pytest.raises(stripe.APIError) as caught:
        sandbox.client.v1.customers.create()

    assert caught.value.http_status == status
    assert caught.value.request_id is not None
    assert customer_count(sandbox) == 0


# Idempotency


def test_same_key_and_params_replay_the_first_answer(sandbox: SandboxControl) -> None:
    client = sandbox.client
    options: Any = {"idempotency_key": "ann-signup-1"}

    first = client.v1.customers.create(params={"name": "Ann"}, options=options)
    second = client.v1.customers.create(params={"name": "Ann"}, options=options)

    assert second.id == first.id
    assert first.last_response is not None and second.last_response is not None
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert second.last_response.idempotency_key == "ann-signup-1"
    assert customer_count(sandbox) == 1
    assert event_count(sandbox, "customer.created") == 1


def test_same_key_with_other_params_is_idempotency_error(sandbox: SandboxControl) -> None:
    client = sandbox.client
    client.v1.customers.create(params={"name": "Ann"}, options={"idempotency_key": "k-1"})

    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.customers.create(params={"name": "Bob"}, options={"idempotency_key": "k-1"})

    assert caught.value.http_status == 400
    assert "k-1" in (caught.value.user_message or "")
    assert [c.name for c in client.v1.customers.list().data] == ["Ann"]


def test_same_key_on_another_endpoint_is_idempotency_error(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(options={"idempotency_key": "k-2"})

    with pytest.raises(stripe.IdempotencyError):
        client.v1.invoices.create(
            params={"customer": customer.id}, options={"idempotency_key": "k-2"}
        )

    assert client.v1.invoices.list().data == []


def test_failed_validation_is_not_remembered_under_the_key(sandbox: SandboxControl) -> None:
    client = sandbox.client
    options: Any = {"idempotency_key": "k-3"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create(params=loose({"name": "Ann", "foo": "x"}), options=options)

    fixed = client.v1.customers.create(params={"name": "Ann"}, options=options)
    again = client.v1.customers.create(params={"name": "Ann"}, options=options)

    assert fixed.last_response is not None and again.last_response is not None
    assert "Idempotent-Replayed" not in fixed.last_response.headers
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.id == fixed.id
    assert customer_count(sandbox) == 1


def test_an_error_from_an_executed_request_is_replayed(sandbox: SandboxControl) -> None:
    """Stripe saves the result of any request that started executing, errors included."""
    options: Any = {"idempotency_key": "k-4"}
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            sandbox.client.v1.invoices.create(
                params={"customer": "cus_doesnotexist"}, options=options
            )
        errors.append(caught.value)

    assert [e.code for e in errors] == ["resource_missing", "resource_missing"]
    assert "Idempotent-Replayed" not in (errors[0].headers or {})
    assert (errors[1].headers or {}).get("idempotent-replayed") == "true"


# Raw wire format


def test_every_answer_carries_a_request_id(sandbox: SandboxControl) -> None:
    http = sandbox.http
    answers = [
        http.post("/v1/customers", content="name=Ann", headers={**AUTH, **FORM}),
        http.post("/v1/customers", content="foo=bar", headers={**AUTH, **FORM}),
        http.get("/v1/customers"),
        http.get("/v1/customers/cus_doesnotexist", headers=AUTH),
        http.get("/v1/no_such_resource", headers=AUTH),
    ]
    sandbox.fault("/v1/customers", method="GET", status=500)
    answers.append(http.get("/v1/customers", headers=AUTH))

    assert [a.status_code for a in answers] == [200, 400, 401, 404, 404, 500]
    request_ids = [a.headers.get("Request-Id", "") for a in answers]
    assert all(rid.startswith("req_") for rid in request_ids), request_ids
    assert len(set(request_ids)) == len(request_ids)


def test_error_body_has_stripes_shape(sandbox: SandboxControl) -> None:
    response = sandbox.http.post("/v1/customers", content="foo=bar", headers={**AUTH, **FORM})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "Received unknown parameter: foo",
        "code": "parameter_unknown",
        "param": "foo",
    }


@pytest.mark.parametrize(
    "form",
    [
        "url=http://127.0.0.1:9/hook&enabled_events[]=invoice.paid"
        "&enabled_events[]=invoice.finalized",
        "url=http://127.0.0.1:9/hook&enabled_events[0]=invoice.paid"
        "&enabled_events[1]=invoice.finalized",
        "url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&enabled_events%5B%5D=invoice.paid"
        "&enabled_events%5B%5D=invoice.finalized",
    ],
)
def test_bracket_arrays_in_a_form_body(sandbox: SandboxControl, form: str) -> None:
    response = sandbox.http.post("/v1/webhook_endpoints", content=form, headers={**AUTH, **FORM})

    assert response.status_code == 200, response.text
    endpoint = response.json()
    assert endpoint["enabled_events"] == ["invoice.paid", "invoice.finalized"]
    assert endpoint["url"] == "http://127.0.0.1:9/hook"
    assert endpoint["secret"].startswith("whsec_")


def test_a_plain_string_where_an_array_belongs_is_refused(sandbox: SandboxControl) -> None:
    response = sandbox.http.post(
        "/v1/webhook_endpoints",
        content="url=http://127.0.0.1:9/hook&enabled_events=invoice.paid",
        headers={**AUTH, **FORM},
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "enabled_events"


def test_bracket_hashes_and_expand_in_raw_requests(sandbox: SandboxControl) -> None:
    http = sandbox.http
    customer = http.post(
        "/v1/customers",
        content="name=Ann&metadata[user_id]=7&metadata[source]=raw",
        headers={**AUTH, **FORM},
    ).json()
    assert customer["metadata"] == {"user_id": "7", "source": "raw"}
    invoice = http.post(
        "/v1/invoices",
        content=f"customer={customer['id']}&metadata[job_id]=1&expand[]=customer",
        headers={**AUTH, **FORM},
    ).json()
    assert invoice["customer"]["id"] == customer["id"]

    plain = http.get(f"/v1/invoices/{invoice['id']}", headers=AUTH).json()
    expanded = http.get(f"/v1/invoices/{invoice['id']}?expand[]=customer", headers=AUTH).json()
    listed = http.get("/v1/invoices?expand[]=data.customer&limit=1", headers=AUTH).json()
    filtered = http.get(
        f"/v1/invoices?customer={customer['id']}&created[gte]={invoice['created']}", headers=AUTH
    ).json()
    events = http.get(
        "/v1/events?types[]=customer.created&types[]=invoice.created", headers=AUTH
    ).json()

    assert plain["customer"] == customer["id"]
    assert expanded["customer"]["id"] == customer["id"]
    assert expanded["customer"]["metadata"] == {"user_id": "7", "source": "raw"}
    assert listed["data"][0]["customer"]["id"] == customer["id"]
    assert [i["id"] for i in filtered["data"]] == [invoice["id"]]
    assert [e["type"] for e in events["data"]] == ["invoice.created", "customer.created"]


def test_expanding_an_unexpandable_field_is_refused(sandbox: SandboxControl) -> None:
    response = sandbox.http.get("/v1/customers?expand[]=metadata", headers=AUTH)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "expand"


def test_unknown_url_is_404_invalid_request_error(sandbox: SandboxControl) -> None:
    for method, path in [("GET", "/v1/nothing_here"), ("POST", "/v1/charges"), ("GET", "/")]:
        response = sandbox.http.request(method, path, headers=AUTH)
        assert response.status_code == 404, path
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert path in error["message"]

    with pytest.raises(stripe.InvalidRequestError) as caught:
        sandbox.client.raw_request("get", "/v1/nothing_here")
    assert caught.value.http_status == 404


# Faults


def test_fault_with_count_two_fails_exactly_two_calls(sandbox: SandboxControl) -> None:
    sandbox.fault("/v1/customers", method="POST", status=500, count=2)

    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(sandbox.client.v1.customers.create(params={"name": "Ann"}).id)
        except stripe.APIError as error:
            outcomes.append(f"error {error.http_status}")

    assert outcomes[:2] == ["error 500", "error 500"]
    assert outcomes[2].startswith("cus_")
    assert customer_count(sandbox) == 1
    assert armed_faults(sandbox) == []


def test_fault_hits_only_its_method_and_path(sandbox: SandboxControl) -> None:
    client = sandbox.client
    sandbox.fault("/v1/invoices/*/finalize", method="POST", status=500)
    customer = client.v1.customers.create()
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoices.retrieve(invoice.id)

    with pytest.raises(stripe.APIError):
        client.v1.invoices.finalize_invoice(invoice.id)
    assert client.v1.invoices.retrieve(invoice.id).status == "draft"  # failed before

    assert client.v1.invoices.finalize_invoice(invoice.id).status == "paid"  # $0: paid


def test_fault_after_applies_the_change_but_fails_the_answer(sandbox: SandboxControl) -> None:
    sandbox.fault("/v1/customers", method="POST", status=500, when="after")

    with pytest.raises(stripe.APIError):
        sandbox.client.v1.customers.create(params={"name": "Ann"})

    customers = sandbox.client.v1.customers.list().data
    assert [c.name for c in customers] == ["Ann"]
    assert event_count(sandbox, "customer.created") == 1


def test_fault_after_on_finalize_leaves_the_invoice_open(sandbox: SandboxControl) -> None:
    client = sandbox.client
    customer = client.v1.customers.create()
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 100}
    )
    sandbox.fault("/v1/invoices/*/finalize", method="POST", status=503, when="after")

    with pytest.raises(stripe.APIError):
        client.v1.invoices.finalize_invoice(invoice.id)

    assert client.v1.invoices.retrieve(invoice.id).status == "open"
    with pytest.raises(stripe.InvalidRequestError):  # a blind retry is now refused
        client.v1.invoices.finalize_invoice(invoice.id)


def test_delay_past_the_client_timeout_is_api_connection_error(sandbox: SandboxControl) -> None:
    sandbox.fault("/v1/customers", method="POST", delay=0.5)
    client = sandbox.stripe_client(
        http_client=stripe.HTTPXClient(timeout=0.15, allow_sync_methods=True)
    )

    with pytest.raises(stripe.APIConnectionError):
        client.v1.customers.create(params={"name": "Late"})

    # The server still carries the call out, as Stripe may after a client timeout.
    deadline = time.monotonic() + 3
    while customer_count(sandbox) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c.name for c in sandbox.client.v1.customers.list().data] == ["Late"]


def test_delay_within_the_client_timeout_only_slows_the_answer(sandbox: SandboxControl) -> None:
    # A whole second, so that the undelayed call stays well under it on a loaded machine.
    sandbox.fault("/v1/customers", method="GET", delay=1.0)

    started = time.monotonic()
    sandbox.client.v1.customers.list()
    slow = time.monotonic() - started
    started = time.monotonic()
    sandbox.client.v1.customers.list()
    fast = time.monotonic() - started

    assert slow >= 1.0
    assert fast < 1.0


def test_sdk_retries_recover_from_one_500_and_create_once(sandbox: SandboxControl) -> None:
    sandbox.fault("/v1/customers", method="POST", status=500)
    client = sandbox.stripe_client(max_network_retries=2)

    customer = client.v1.customers.create(params={"name": "Ann"})

    assert [c.id for c in sandbox.client.v1.customers.list().data] == [customer.id]
    assert armed_faults(sandbox) == []


def test_sdk_retries_after_a_lost_answer_replay_instead_of_creating_twice(
    sandbox: SandboxControl,
) -> None:
    # The first call creates the customer and then fails; the SDK retries with the same
    # idempotency key, and the sandbox replays the first result.
    sandbox.fault("/v1/customers", method="POST", status=500, when="after")
    client = sandbox.stripe_client(max_network_retries=2)

    customer = client.v1.customers.create(params={"name": "Ann"})

    assert [c.id for c in sandbox.client.v1.customers.list().data] == [customer.id]
    assert customer.last_response is not None
    assert customer.last_response.headers["Idempotent-Replayed"] == "true"
    assert event_count(sandbox, "customer.created") == 1


def invoice_to_finalize(client: stripe.StripeClient) -> str:
    customer = client.v1.customers.create(params={"name": "Ann"})
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 15000}
    )
    return invoice.id


def test_finalize_answered_429_after_the_change_then_retried_with_its_key_is_finalized(
    sandbox: SandboxControl,
) -> None:
    """A fault `after` stands for an answer lost between Stripe and the client: Stripe saved
    the finalize's own result under the key, so the retry gets that, not "already
    finalized"."""
    client = sandbox.client
    invoice_id = invoice_to_finalize(client)
    options: Any = {"idempotency_key": "finalize-1"}
    sandbox.fault("/v1/invoices/*/finalize", method="POST", status=429, when="after")

    with pytest.raises(stripe.RateLimitError):
        client.v1.invoices.finalize_invoice(invoice_id, options=options)
    retried = client.v1.invoices.finalize_invoice(invoice_id, options=options)

    assert (retried.id, retried.status) == (invoice_id, "open")
    assert retried.number == client.v1.invoices.retrieve(invoice_id).number
    assert retried.last_response is not None
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert event_count(sandbox, "invoice.finalized") == 1


def test_finalize_answered_429_before_the_change_is_not_remembered_under_its_key(
    sandbox: SandboxControl,
) -> None:
    """A 429 (or any fault `before`) is answered before the request runs: Stripe saves
    results only once an endpoint starts executing, so the retry with the key runs it."""
    client = sandbox.client
    invoice_id = invoice_to_finalize(client)
    options: Any = {"idempotency_key": "finalize-2"}
    sandbox.fault("/v1/invoices/*/finalize", method="POST", status=429)

    with pytest.raises(stripe.RateLimitError):
        client.v1.invoices.finalize_invoice(invoice_id, options=options)
    assert client.v1.invoices.retrieve(invoice_id).status == "draft"
    finalized = client.v1.invoices.finalize_invoice(invoice_id, options=options)
    again = client.v1.invoices.finalize_invoice(invoice_id, options=options)

    assert finalized.status == "open"
    assert finalized.last_response is not None and again.last_response is not None
    assert "Idempotent-Replayed" not in finalized.last_response.headers
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert again.number == finalized.number
    assert event_count(sandbox, "invoice.finalized") == 1


def test_send_answered_500_after_the_change_is_sent_once_through_sdk_retries(
    sandbox: SandboxControl,
) -> None:
    client = sandbox.stripe_client(max_network_retries=2)
    invoice_id = invoice_to_finalize(client)
    sandbox.fault("/v1/invoices/*/send", method="POST", status=500, when="after")

    sent = client.v1.invoices.send_invoice(invoice_id)  # the SDK retries with its own key

    assert sent.status == "open"
    assert sent.last_response is not None
    assert sent.last_response.headers["Idempotent-Replayed"] == "true"
    assert sandbox.request_counts()["POST /v1/invoices/{id}/send"] == 2
    assert event_count(sandbox, "invoice.sent") == 1
    assert event_count(sandbox, "invoice.finalized") == 1


def test_a_retry_while_the_first_request_still_runs_is_409_and_saves_nothing(
    sandbox: SandboxControl,
) -> None:
    sandbox.fault("/v1/customers", method="POST", delay=0.8)
    options: Any = {"idempotency_key": "slow-ann"}
    impatient = sandbox.stripe_client(
        http_client=stripe.HTTPXClient(timeout=0.15, allow_sync_methods=True)
    )
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.customers.create(params={"name": "Ann"}, options=options)

    with pytest.raises(stripe.APIError) as caught:
        sandbox.client.v1.customers.create(params={"name": "Ann"}, options=options)

    assert caught.value.http_status == 409
    assert caught.value.error is not None
    assert caught.value.error.code == "idempotency_key_in_use"
    deadline = time.monotonic() + 5
    while customer_count(sandbox) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    replayed = sandbox.client.v1.customers.create(params={"name": "Ann"}, options=options)
    assert replayed.last_response is not None
    assert replayed.last_response.headers["Idempotent-Replayed"] == "true"
    assert customer_count(sandbox) == 1


def test_sdk_retries_wait_out_a_request_still_running_and_get_its_answer(
    sandbox: SandboxControl,
) -> None:
    sandbox.fault("/v1/customers", method="POST", delay=0.6)
    client = sandbox.stripe_client(
        max_network_retries=6,
        http_client=stripe.HTTPXClient(timeout=0.15, allow_sync_methods=True),
    )

    customer = client.v1.customers.create(params={"name": "Ann"})

    assert [c.id for c in sandbox.client.v1.customers.list().data] == [customer.id]
    assert event_count(sandbox, "customer.created") == 1


def test_fault_control_refuses_nonsense(sandbox: SandboxControl) -> None:
    nonsense: list[dict[str, Any]] = [
        {"path": "/v1/customers"},
        {"path": "/v1/customers", "status": 200},
        {"path": "/v1/customers", "status": 500, "when": "during"},
        {"path": "/v1/customers", "status": 500, "count": 0},
        {"status": 500},
    ]
    for bad in nonsense:
        response = sandbox.http.post("/_sandbox/faults", json={"method": "POST", **bad})
        assert response.status_code == 400, bad
    assert armed_faults(sandbox) == []


def test_request_counts_name_each_route_and_reset_clears_them(sandbox: SandboxControl) -> None:
    customer = sandbox.client.v1.customers.create(params={"name": "Counted"})
    sandbox.client.v1.customers.retrieve(customer.id)
    sandbox.client.v1.customers.retrieve(customer.id)
    counts = sandbox.request_counts()
    assert counts["POST /v1/customers"] == 1
    assert counts["GET /v1/customers/{id}"] == 2
    sandbox.reset()
    assert sandbox.request_counts() == {}
