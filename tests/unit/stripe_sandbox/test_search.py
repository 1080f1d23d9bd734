"""Stripe's search query language as the sandbox understands it."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_sandbox.errors import StripeError
from stripe_sandbox.search import parse

ANN: dict[str, Any] = {
    "id": "cus_ann",
    "email": "Ann.Lee@Example.com",
    "name": "Ann Lee",
    "phone": "+15550100",
    "created": 1_700_000_000,
    "metadata": {"user_id": "7", "tier": "gold"},
}
BOB: dict[str, Any] = {
    "id": "cus_bob",
    "email": "bob@example.org",
    "name": "Bob O'Brien",
    "phone": None,
    "created": 1_700_000_100,
    "metadata": {"user_id": "8"},
}
CUSTOMERS = [ANN, BOB]

OPEN: dict[str, Any] = {
    "id": "in_open",
    "status": "open",
    "customer": "cus_ann",
    "number": "ABC-0001",
    "total": 15000,
    "currency": "usd",
    "created": 1_700_000_000,
    "metadata": {"job_id": "42"},
}
VOID: dict[str, Any] = {
    "id": "in_void",
    "status": "void",
    "customer": "cus_bob",
    "number": "ABC-0002",
    "total": 500,
    "currency": "eur",
    "created": 1_700_000_200,
    "metadata": {"job_id": "43"},
}
INVOICES = [OPEN, VOID]


def found(query: str, resource: str = "customers") -> list[str]:
    matches = parse(query, resource)
    objects = CUSTOMERS if resource == "customers" else INVOICES
    return [obj["id"] for obj in objects if matches(obj)]


def refusal(query: str, resource: str = "customers") -> StripeError:
    with pytest.raises(StripeError) as caught:
        parse(query, resource)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    assert caught.value.param == "query"
    return caught.value


# metadata


@pytest.mark.parametrize(
    "query", ["metadata['user_id']:'7'", 'metadata["user_id"]:"7"', "metadata['user_id']:\"7\""]
)
def test_metadata_clause_with_either_quote(query: str) -> None:
    assert found(query) == ["cus_ann"]


def test_metadata_clause_does_not_match_objects_without_the_key() -> None:
    assert found("metadata['tier']:'gold'") == ["cus_ann"]
    assert found("metadata['missing']:'x'") == []


def test_metadata_clause_on_invoices() -> None:
    assert found("metadata['job_id']:'43'", "invoices") == ["in_void"]


def test_metadata_without_a_key_is_refused() -> None:
    refusal("metadata:'7'")


def test_a_key_on_a_plain_field_is_refused() -> None:
    refusal("email['x']:'ann@example.com'")


# exact match and substring


def test_email_exact_match_is_case_insensitive() -> None:
    assert found("email:'ann.lee@example.com'") == ["cus_ann"]
    assert found("email:'ANN.LEE@EXAMPLE.COM'") == ["cus_ann"]


def test_email_exact_match_is_not_a_substring_match() -> None:
    assert found("email:'ann.lee'") == []


def test_name_exact_match_is_case_insensitive() -> None:
    assert found('name:"ann lee"') == ["cus_ann"]
    assert found('name:"Ann"') == []


def test_escaped_quote_inside_a_value() -> None:
    assert found(r"name:'bob o\'brien'") == ["cus_bob"]


def test_substring_match_with_tilde() -> None:
    assert found("email~'example'") == ["cus_ann", "cus_bob"]
    assert found("email~'EXAMPLE.ORG'") == ["cus_bob"]
    assert found("name~'lee'") == ["cus_ann"]


def test_substring_of_three_characters_is_enough() -> None:
    assert found("name~'bob'") == ["cus_bob"]


@pytest.mark.parametrize("query", ["name~'bo'", "name~'a'", "name~''"])
def test_substring_shorter_than_three_characters_is_refused(query: str) -> None:
    error = refusal(query)
    assert error.message == "Substring search (~) needs at least 3 characters."


def test_a_missing_field_never_matches() -> None:
    assert found("phone:'+15550100'") == ["cus_ann"]
    assert found("phone~'555'") == ["cus_ann"]


def test_invoice_fields_status_number_currency_customer_total() -> None:
    assert found("status:'open'", "invoices") == ["in_open"]
    assert found("number:'abc-0002'", "invoices") == ["in_void"]
    assert found("currency:'EUR'", "invoices") == ["in_void"]
    assert found("customer:'cus_ann'", "invoices") == ["in_open"]
    assert found("total:15000", "invoices") == ["in_open"]
    assert found("total>=500", "invoices") == ["in_open", "in_void"]


# created comparisons


@pytest.mark.parametrize(
    "query, expected",
    [
        ("created>1700000000", ["cus_bob"]),
        ("created>=1700000000", ["cus_ann", "cus_bob"]),
        ("created<1700000100", ["cus_ann"]),
        ("created<=1700000100", ["cus_ann", "cus_bob"]),
        ("created>1700000100", []),
        ("created<1700000000", []),
        ("created:1700000100", ["cus_bob"]),
        ("created > 1700000000", ["cus_bob"]),
    ],
)
def test_created_comparisons(query: str, expected: list[str]) -> None:
    assert found(query) == expected


def test_comparison_needs_a_number() -> None:
    error = refusal("created>'yesterday'")
    assert error.message == "Field `created` needs a number after `>`."


def test_comparison_on_a_text_field_is_refused() -> None:
    error = refusal("email>5")
    assert error.message == "Field `email` does not support `>`."


# negation


def test_negation_excludes_matches() -> None:
    assert found("-email:'bob@example.org'") == ["cus_ann"]
    assert found("-status:'void'", "invoices") == ["in_open"]


def test_negated_comparison() -> None:
    assert found("-created>1700000000") == ["cus_ann"]


def test_negated_metadata_matches_objects_without_the_key() -> None:
    assert found("-metadata['tier']:'gold'") == ["cus_bob"]


# AND / OR


def test_and_requires_every_clause() -> None:
    assert found("email~'example' AND metadata['user_id']:'8'") == ["cus_bob"]
    assert found("email~'example' AND name:'nobody'") == []


def test_and_over_three_clauses() -> None:
    query = "status:'open' AND currency:'usd' AND created<=1700000000"
    assert found(query, "invoices") == ["in_open"]


def test_or_accepts_any_clause() -> None:
    assert found("name:'ann lee' OR name:'bob o\\'brien'") == ["cus_ann", "cus_bob"]
    assert found("name:'nobody' OR metadata['user_id']:'8'") == ["cus_bob"]


def test_negation_combines_with_and() -> None:
    assert found("email~'example' AND -name~'ann'") == ["cus_bob"]


def test_mixing_and_with_or_is_refused() -> None:
    error = refusal("name:'a b' AND email:'x' OR phone:'1'")
    assert error.message == "Search queries cannot mix AND and OR; use one of them throughout."


def test_two_clauses_without_a_joiner_are_refused() -> None:
    error = refusal("name:'ann lee' email:'x'")
    assert error.message.startswith("Expected AND or OR")


def test_dangling_joiner_is_refused() -> None:
    refusal("name:'ann lee' AND ")


# refused queries


@pytest.mark.parametrize(
    "field, resource",
    [
        ("status", "customers"),
        ("number", "customers"),
        ("total", "customers"),
        ("email", "invoices"),
        ("name", "invoices"),
        ("phone", "invoices"),
        ("description", "invoices"),
    ],
)
def test_unsupported_field_is_refused_per_resource(field: str, resource: str) -> None:
    error = refusal(f"{field}:'x'", resource)
    assert error.message == (
        f"Field `{field}` is an unsupported search field for resource `{resource}`."
    )


def test_unsupported_field_inside_a_longer_query_is_refused() -> None:
    refusal("email:'a@b.c' AND status:'open'")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "hello",
        "email",
        "email:",
        "email:'unterminated",
        "email = 'x'",
        "EMAIL:'x'",
        "metadata['k':'v'",
        "email:'x' AND AND name:'y'",
    ],
)
def test_garbage_is_refused(query: str) -> None:
    refusal(query)


def test_unparsable_query_message_says_where() -> None:
    error = refusal("email:'x' AND ???")
    assert "unable to parse your search query" in error.message
    assert "???" in error.message


@pytest.mark.parametrize("query", ["name:'Ann Lee' and email:'x'", "name:'Ann Lee' or email:'x'"])
def test_lower_case_joiners_are_refused(query: str) -> None:
    assert "AND or OR" in refusal(query).message


def test_numeric_field_with_text_value_is_refused() -> None:
    assert "takes a number" in refusal("created:'yesterday'").message


def test_metadata_equality_names_the_clause_every_match_needs() -> None:
    assert parse("metadata['job_id']:'42' AND status:'open'", "invoices").metadata_equality() == (
        "job_id",
        "42",
    )
    assert parse("metadata['job_id']:'42' OR status:'open'", "invoices").metadata_equality() is None
    assert parse("-metadata['job_id']:'42'", "invoices").metadata_equality() is None
