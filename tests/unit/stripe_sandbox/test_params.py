"""Stripe's bracket-notation form decoding and the per-endpoint parameter checks."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_sandbox.errors import StripeError
from stripe_sandbox.params import (
    Param,
    Spec,
    as_list,
    boolean,
    decode_form,
    in_range,
    integer,
    metadata,
    one_of,
    string,
    timestamp_range,
)


def refusal(spec: Spec, raw: dict[str, Any]) -> StripeError:
    with pytest.raises(StripeError) as caught:
        spec.validate(raw)
    return caught.value


# decode_form


def test_decode_form_nests_bracketed_keys() -> None:
    assert decode_form("metadata[job_id]=1&metadata[user]=ann&customer=cus_1") == {
        "metadata": {"job_id": "1", "user": "ann"},
        "customer": "cus_1",
    }


def test_decode_form_nests_several_levels() -> None:
    assert decode_form("a[b][c]=1&a[b][d]=2") == {"a": {"b": {"c": "1", "d": "2"}}}


def test_decode_form_url_decodes_keys_and_values() -> None:
    assert decode_form("metadata%5Bjob_id%5D=a%20b%2Bc&description=x+y") == {
        "metadata": {"job_id": "a b+c"},
        "description": "x y",
    }


def test_empty_brackets_take_the_next_index() -> None:
    assert decode_form("expand[]=a&expand[]=b") == {"expand": {"0": "a", "1": "b"}}


@pytest.mark.parametrize(
    "raw", ["expand[]=customer&expand[]=invoice", "expand[0]=customer&expand[1]=invoice"]
)
def test_both_array_notations_become_the_same_list_after_validation(raw: str) -> None:
    assert Spec().validate(decode_form(raw))["expand"] == ["customer", "invoice"]


def test_indexed_array_is_ordered_by_number_not_by_text() -> None:
    raw = "&".join(f"types[{index}]=t{index}" for index in (10, 2, 0, 1))
    spec = Spec({"types": Param(as_list(string))})
    assert spec.validate(decode_form(raw))["types"] == ["t0", "t1", "t2", "t10"]


def test_numeric_metadata_key_stays_a_dict_key() -> None:
    decoded = decode_form("metadata[0]=x&metadata[1]=y")
    assert decoded == {"metadata": {"0": "x", "1": "y"}}
    spec = Spec({"metadata": Param(metadata)})
    assert spec.validate(decoded)["metadata"] == {"0": "x", "1": "y"}


def test_empty_value_is_kept_as_empty_string() -> None:
    assert decode_form("description=&metadata[job_id]=") == {
        "description": "",
        "metadata": {"job_id": ""},
    }


def test_decode_form_of_nothing_is_empty() -> None:
    assert decode_form("") == {}


# Spec.validate


def test_unknown_parameter_is_refused_with_stripes_message() -> None:
    error = refusal(Spec({"name": Param(string)}), {"name": "Ann", "foo": "1"})
    assert error.status == 400
    assert error.type == "invalid_request_error"
    assert error.message == "Received unknown parameter: foo"
    assert error.param == "foo"
    assert error.code == "parameter_unknown"


def test_expand_is_accepted_by_every_spec_and_defaults_to_empty_list() -> None:
    assert Spec().validate({}) == {"expand": []}


def test_expand_given_as_a_string_is_refused() -> None:
    error = refusal(Spec(), {"expand": "customer"})
    assert (error.status, error.param) == (400, "expand")
    assert error.message == "Invalid array: expand must be an array."


def test_missing_required_param_is_named() -> None:
    spec = Spec({"customer": Param(string, required=True), "description": Param(string)})
    error = refusal(spec, {"description": "x"})
    assert error.status == 400
    assert error.message == "Missing required param: customer."
    assert error.param == "customer"
    assert error.code == "parameter_missing"


def test_required_param_given_empty_counts_as_missing() -> None:
    error = refusal(Spec({"customer": Param(string, required=True)}), {"customer": ""})
    assert error.param == "customer"
    assert error.code == "parameter_missing"


def test_empty_string_unsets_an_optional_param() -> None:
    spec = Spec({"description": Param(string), "days_until_due": Param(integer(0))})
    checked = spec.validate({"description": "", "days_until_due": ""})
    assert checked["description"] is None
    assert checked["days_until_due"] is None


def test_absent_optional_param_is_left_out() -> None:
    checked = Spec({"description": Param(string)}).validate({})
    assert "description" not in checked


def test_valid_params_are_converted_by_their_checks() -> None:
    spec = Spec(
        {
            "days_until_due": Param(integer(0)),
            "paid_out_of_band": Param(boolean),
            "status": Param(one_of("draft", "open")),
        }
    )
    checked = spec.validate({"days_until_due": "7", "paid_out_of_band": "true", "status": "open"})
    assert checked == {
        "days_until_due": 7,
        "paid_out_of_band": True,
        "status": "open",
        "expand": [],
    }


# string


def test_string_refuses_an_object() -> None:
    with pytest.raises(StripeError) as caught:
        string("description", {"a": "b"})
    assert caught.value.message == "Invalid string: an object"
    assert caught.value.param == "description"


def test_string_limit_is_5000_characters() -> None:
    assert string("description", "x" * 5000) == "x" * 5000
    with pytest.raises(StripeError) as caught:
        string("description", "x" * 5001)
    assert caught.value.message == "description must be at most 5000 characters."


# integer


@pytest.mark.parametrize("value, expected", [("0", 0), ("42", 42), ("-3", -3), ("007", 7)])
def test_integer_accepts_decimal_digits(value: str, expected: int) -> None:
    assert integer()("amount", value) == expected


@pytest.mark.parametrize("value", ["1.5", "abc", "", " 1", "1e3", "+1"])
def test_integer_refuses_non_integers(value: str) -> None:
    with pytest.raises(StripeError) as caught:
        integer()("amount", value)
    assert caught.value.status == 400
    assert caught.value.message == f"Invalid integer: {value}"
    assert caught.value.param == "amount"


def test_integer_refuses_an_object() -> None:
    with pytest.raises(StripeError) as caught:
        integer()("amount", {"0": "1"})
    assert caught.value.message == "Invalid integer: an object"


def test_integer_bounds_are_inclusive() -> None:
    check = integer(1, 100)
    assert check("limit", "1") == 1
    assert check("limit", "100") == 100
    with pytest.raises(StripeError) as low:
        check("limit", "0")
    assert low.value.message == "This value must be greater than or equal to 1."
    assert low.value.param == "limit"
    with pytest.raises(StripeError) as high:
        check("limit", "101")
    assert high.value.message == "This value must be less than or equal to 100."
    assert high.value.param == "limit"


# boolean


def test_boolean_accepts_true_and_false() -> None:
    assert boolean("paid_out_of_band", "true") is True
    assert boolean("paid_out_of_band", "false") is False


@pytest.mark.parametrize("value", ["True", "1", "yes", "0", "FALSE"])
def test_boolean_refuses_anything_else(value: str) -> None:
    with pytest.raises(StripeError) as caught:
        boolean("paid_out_of_band", value)
    assert caught.value.message == f"Invalid boolean: {value}"
    assert caught.value.param == "paid_out_of_band"


# one_of


def test_one_of_accepts_a_listed_choice() -> None:
    assert one_of("draft", "open")("status", "open") == "open"


def test_one_of_refuses_and_lists_the_choices() -> None:
    with pytest.raises(StripeError) as caught:
        one_of("draft", "open", "paid")("status", "closed")
    assert caught.value.status == 400
    assert caught.value.message == "Invalid status: must be one of draft, open, paid"
    assert caught.value.param == "status"


# as_list


def test_as_list_checks_every_item_and_names_the_bad_one() -> None:
    check = as_list(one_of("a", "b"))
    assert check("types", {"0": "a", "1": "b"}) == ["a", "b"]
    with pytest.raises(StripeError) as caught:
        check("types", {"0": "a", "1": "zzz"})
    assert caught.value.param == "types[1]"


def test_as_list_refuses_a_plain_string() -> None:
    with pytest.raises(StripeError) as caught:
        as_list(string)("enabled_events", "invoice.paid")
    assert caught.value.message == "Invalid array: enabled_events must be an array."
    assert caught.value.param == "enabled_events"


def test_as_list_refuses_a_hash_with_non_index_keys() -> None:
    with pytest.raises(StripeError) as caught:
        as_list(string)("enabled_events", {"0": "a", "x": "b"})
    assert caught.value.message == "Invalid array: enabled_events must be an array."


# metadata


def test_metadata_accepts_string_values() -> None:
    assert metadata("metadata", {"job_id": "1"}) == {"job_id": "1"}


def test_metadata_empty_value_deletes_the_key() -> None:
    assert metadata("metadata", {"job_id": "", "keep": "x"}) == {"job_id": None, "keep": "x"}


def test_metadata_as_a_string_is_refused() -> None:
    with pytest.raises(StripeError) as caught:
        metadata("metadata", "job_id")
    assert caught.value.message == (
        "Invalid object: metadata must be a hash of string keys to string values."
    )
    assert caught.value.param == "metadata"


def test_metadata_nested_value_is_refused() -> None:
    with pytest.raises(StripeError) as caught:
        metadata("metadata", {"job": {"id": "1"}})
    assert caught.value.message == "Metadata values must be strings."
    assert caught.value.param == "metadata[job]"


def test_metadata_holds_at_most_50_keys() -> None:
    fifty = {f"k{n}": "v" for n in range(50)}
    assert len(metadata("metadata", fifty)) == 50
    with pytest.raises(StripeError) as caught:
        metadata("metadata", {**fifty, "k50": "v"})
    assert caught.value.status == 400
    assert caught.value.message == "Metadata can have at most 50 keys."
    assert caught.value.param == "metadata"


def test_metadata_key_is_at_most_40_characters() -> None:
    assert metadata("metadata", {"k" * 40: "v"}) == {"k" * 40: "v"}
    with pytest.raises(StripeError) as caught:
        metadata("metadata", {"k" * 41: "v"})
    assert caught.value.message == "Metadata keys can be at most 40 characters long."
    assert caught.value.param == f"metadata[{'k' * 41}]"


def test_metadata_value_is_at_most_500_characters() -> None:
    assert metadata("metadata", {"k": "v" * 500}) == {"k": "v" * 500}
    with pytest.raises(StripeError) as caught:
        metadata("metadata", {"k": "v" * 501})
    assert caught.value.message == "Metadata values can be at most 500 characters long."
    assert caught.value.param == "metadata[k]"


def test_metadata_limits_apply_through_decoded_forms() -> None:
    spec = Spec({"metadata": Param(metadata)})
    raw = "&".join(f"metadata[k{n}]=v" for n in range(51))
    error = refusal(spec, decode_form(raw))
    assert error.message == "Metadata can have at most 50 keys."


# timestamp_range


def test_exact_timestamp_is_a_closed_range() -> None:
    assert timestamp_range("created", "1700000000") == {"gte": 1700000000, "lte": 1700000000}


def test_timestamp_range_keeps_each_bound() -> None:
    value = {"gt": "1", "gte": "2", "lt": "30", "lte": "40"}
    assert timestamp_range("created", value) == {"gt": 1, "gte": 2, "lt": 30, "lte": 40}


def test_timestamp_range_from_decoded_form() -> None:
    spec = Spec({"created": Param(timestamp_range)})
    checked = spec.validate(decode_form("created[gte]=100&created[lt]=200"))
    assert checked["created"] == {"gte": 100, "lt": 200}


def test_timestamp_range_refuses_unknown_key_as_unknown_parameter() -> None:
    with pytest.raises(StripeError) as caught:
        timestamp_range("created", {"foo": "1"})
    assert caught.value.status == 400
    assert caught.value.message == "Received unknown parameter: created[foo]"
    assert caught.value.param == "created[foo]"


def test_timestamp_range_refuses_non_integer_bound() -> None:
    with pytest.raises(StripeError) as caught:
        timestamp_range("created", {"gte": "yesterday"})
    assert caught.value.message == "Invalid integer: yesterday"
    assert caught.value.param == "created[gte]"


def test_timestamp_range_refuses_negative_timestamps() -> None:
    with pytest.raises(StripeError) as caught:
        timestamp_range("created", "-1")
    assert caught.value.message == "This value must be greater than or equal to 0."
    assert caught.value.param == "created"


def test_timestamp_range_refuses_a_list() -> None:
    with pytest.raises(StripeError) as caught:
        timestamp_range("created", ["1"])
    assert caught.value.message == "Invalid timestamp range: created"
    assert caught.value.param == "created"


# in_range


@pytest.mark.parametrize(
    "number, bounds, expected",
    [
        (5, {}, True),
        (5, {"gt": 5}, False),
        (6, {"gt": 5}, True),
        (5, {"gte": 5}, True),
        (4, {"gte": 5}, False),
        (5, {"lt": 5}, False),
        (4, {"lt": 5}, True),
        (5, {"lte": 5}, True),
        (6, {"lte": 5}, False),
        (5, {"gte": 5, "lte": 5}, True),
        (6, {"gte": 5, "lte": 5}, False),
        (10, {"gt": 1, "lt": 10}, False),
        (9, {"gt": 1, "lt": 10}, True),
    ],
)
def test_in_range_applies_every_bound(number: int, bounds: dict[str, int], expected: bool) -> None:
    assert in_range(number, bounds) is expected


def test_exact_timestamp_range_matches_only_that_second() -> None:
    bounds = timestamp_range("created", "100")
    assert [n for n in (99, 100, 101) if in_range(n, bounds)] == [100]
