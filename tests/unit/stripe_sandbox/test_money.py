"""The currencies the sandbox takes and Stripe's minimum charge for each."""

from __future__ import annotations

from stripe_sandbox.api import ROUTES
from stripe_sandbox.money import CURRENCIES, MINIMUM_CHARGE, format_amount


def test_invoices_and_items_take_exactly_the_sandbox_currencies() -> None:
    for path in ("/v1/invoices", "/v1/invoiceitems"):
        [create] = [r for r in ROUTES if (r.method, r.path) == ("POST", path)]
        check = create.spec.params["currency"].check
        assert [check("currency", currency) for currency in CURRENCIES] == list(CURRENCIES)


def test_every_currency_the_sandbox_takes_has_a_minimum_charge() -> None:
    assert set(CURRENCIES) <= set(MINIMUM_CHARGE)


def test_minimum_charges_follow_stripes_table() -> None:
    # docs.stripe.com/currencies: $0.50, £0.30, CA$0.50, A$0.50, €0.50, 2.50 kr., HK$4.00.
    assert {c: MINIMUM_CHARGE[c] for c in ("usd", "gbp", "cad", "aud", "eur", "dkk", "hkd")} == {
        "usd": 50,
        "gbp": 30,
        "cad": 50,
        "aud": 50,
        "eur": 50,
        "dkk": 250,
        "hkd": 400,
    }


def test_format_amount_shows_the_currency_symbol() -> None:
    assert format_amount(15000, "usd") == "$150.00"
    assert format_amount(-5, "gbp") == "-£0.05"
    assert format_amount(123456, "chf") == "CHF 1,234.56"
