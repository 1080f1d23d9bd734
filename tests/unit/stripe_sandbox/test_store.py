"""The store's newest-first pages and persistence; faults, money and the card form checks."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stripe_sandbox.faults import Fault, FaultTable
from stripe_sandbox.hosted_page import card_problem
from stripe_sandbox.money import format_amount
from stripe_sandbox.store import IdempotentResult, Store, StripeObject

Keep = Callable[[StripeObject], bool]


def keep_all(_: StripeObject) -> bool:
    return True


def filled_store(size: int, deleted: AbstractSet[int] = frozenset()) -> Store:
    """A store with customers cus_0 (oldest) .. cus_<size-1> (newest), some of them deleted."""
    store = Store()
    for n in range(size):
        store.add("customer", {"id": f"cus_{n}", "object": "customer", "n": n})
    for n in deleted:
        store.remove("customer", f"cus_{n}")
    return store


def expected_page(
    size: int,
    deleted: AbstractSet[int],
    keep: Keep,
    limit: int,
    starting_after: int | None = None,
    ending_before: int | None = None,
) -> tuple[list[int], bool]:
    """Stripe's cursor semantics, computed over a plain newest-first list of numbers."""
    newest_first = list(range(size - 1, -1, -1))  # every id ever issued, deleted or not

    def visible(numbers: list[int]) -> list[int]:
        return [n for n in numbers if n not in deleted and keep({"id": f"cus_{n}", "n": n})]

    if ending_before is not None:
        newer = visible(newest_first[: newest_first.index(ending_before)])
        return newer[-limit:] if len(newer) > limit else newer, len(newer) > limit
    start = 0 if starting_after is None else newest_first.index(starting_after) + 1
    older = visible(newest_first[start:])
    return older[:limit], len(older) > limit


def numbers(items: list[StripeObject]) -> list[int]:
    return [int(item["n"]) for item in items]


# Store.page


def test_first_page_is_newest_first() -> None:
    store = filled_store(5)
    items, has_more = store.page("customer", keep_all, limit=3)
    assert numbers(items) == [4, 3, 2]
    assert has_more is True


def test_page_that_holds_everything_has_no_more() -> None:
    store = filled_store(3)
    items, has_more = store.page("customer", keep_all, limit=3)
    assert numbers(items) == [2, 1, 0]
    assert has_more is False


def test_empty_store_gives_an_empty_page() -> None:
    assert Store().page("customer", keep_all, limit=10) == ([], False)


def test_starting_after_gives_the_older_objects() -> None:
    store = filled_store(6)
    items, has_more = store.page("customer", keep_all, limit=2, starting_after="cus_4")
    assert (numbers(items), has_more) == ([3, 2], True)
    items, has_more = store.page("customer", keep_all, limit=2, starting_after="cus_2")
    assert (numbers(items), has_more) == ([1, 0], False)


def test_ending_before_gives_the_newer_objects_nearest_the_cursor_newest_first() -> None:
    store = filled_store(6)
    items, has_more = store.page("customer", keep_all, limit=2, ending_before="cus_1")
    assert (numbers(items), has_more) == ([3, 2], True)
    items, has_more = store.page("customer", keep_all, limit=2, ending_before="cus_3")
    assert (numbers(items), has_more) == ([5, 4], False)


def test_page_matches_a_plain_list_for_every_size_limit_and_cursor() -> None:
    rng = random.Random(20240601)
    predicates: list[Keep] = [keep_all, lambda obj: int(obj["n"]) % 3 != 0]
    checked = 0
    for size in range(0, 13):
        for _ in range(4):
            deleted = {n for n in range(size) if rng.random() < 0.3}
            store = filled_store(size, deleted)
            for keep in predicates:
                for limit in (1, 2, 3, 5, 100):
                    cursors: list[int | None] = [None, *range(size)]
                    for cursor in cursors:
                        got, more = store.page(
                            "customer",
                            keep,
                            limit=limit,
                            starting_after=None if cursor is None else f"cus_{cursor}",
                        )
                        want = expected_page(size, deleted, keep, limit, starting_after=cursor)
                        assert (numbers(got), more) == want, (size, deleted, limit, cursor)
                        checked += 1
                        if cursor is None:
                            continue
                        got, more = store.page(
                            "customer", keep, limit=limit, ending_before=f"cus_{cursor}"
                        )
                        want = expected_page(size, deleted, keep, limit, ending_before=cursor)
                        assert (numbers(got), more) == want, (size, deleted, limit, cursor)
                        checked += 1
    assert checked > 5000


def test_walking_forward_and_back_visits_every_kept_object_once() -> None:
    rng = random.Random(7)
    for size in range(1, 25):
        deleted = {n for n in range(size) if rng.random() < 0.25}
        store = filled_store(size, deleted)
        everything = [n for n in range(size - 1, -1, -1) if n not in deleted]
        for limit in (1, 2, 3, 7):
            forward: list[int] = []
            items, has_more = store.page("customer", keep_all, limit=limit)
            forward += numbers(items)
            while has_more:
                items, has_more = store.page(
                    "customer", keep_all, limit=limit, starting_after=items[-1]["id"]
                )
                forward += numbers(items)
            assert forward == everything
            if not everything:
                continue
            # Back from the oldest object, one page at a time, towards the newest.
            backward = [everything[-1]]
            cursor = f"cus_{everything[-1]}"
            while True:
                items, has_more = store.page(
                    "customer", keep_all, limit=limit, ending_before=cursor
                )
                backward = numbers(items) + backward
                if not has_more:
                    break
                cursor = items[0]["id"]
            assert backward == everything


def test_deleted_objects_are_skipped_but_still_anchor_cursors() -> None:
    store = filled_store(5, deleted={2, 4})
    assert store.get("customer", "cus_2") is None
    assert store.knows("customer", "cus_2")
    assert store.knows("customer", "cus_4")
    assert not store.knows("customer", "cus_99")
    assert numbers(store.page("customer", keep_all, limit=10)[0]) == [3, 1, 0]
    items, has_more = store.page("customer", keep_all, limit=1, starting_after="cus_2")
    assert (numbers(items), has_more) == ([1], True)
    items, has_more = store.page("customer", keep_all, limit=5, ending_before="cus_2")
    assert (numbers(items), has_more) == ([3], False)


def test_knows_is_per_kind() -> None:
    store = filled_store(1)
    assert store.knows("customer", "cus_0")
    assert not store.knows("invoice", "cus_0")


def test_predicate_filters_without_shortening_the_page() -> None:
    store = filled_store(10)
    even: Keep = lambda obj: int(obj["n"]) % 2 == 0  # noqa: E731
    items, has_more = store.page("customer", even, limit=3)
    assert (numbers(items), has_more) == ([8, 6, 4], True)
    items, has_more = store.page("customer", even, limit=3, starting_after="cus_4")
    assert (numbers(items), has_more) == ([2, 0], False)


def test_page_does_not_report_more_when_only_filtered_objects_remain() -> None:
    store = filled_store(6)
    items, has_more = store.page("customer", lambda obj: int(obj["n"]) >= 3, limit=3)
    assert (numbers(items), has_more) == ([5, 4, 3], False)


def test_reset_forgets_objects_and_cursors() -> None:
    store = filled_store(3)
    store.idempotency["k"] = IdempotentResult("POST", "/v1/customers", {}, 200, "{}")
    store.reset()
    assert store.page("customer", keep_all, limit=10) == ([], False)
    assert not store.knows("customer", "cus_0")
    assert store.idempotency == {}


# Persistence


def test_save_then_load_restores_objects_order_and_idempotency(tmp_path: Path) -> None:
    data = tmp_path / "state.json"
    store = Store(data_file=data)
    for n in range(4):
        store.add("customer", {"id": f"cus_{n}", "object": "customer", "n": n})
    store.add("invoice", {"id": "in_1", "object": "invoice", "customer": "cus_1", "n": 0})
    store.remove("customer", "cus_2")
    store.idempotency["key-1"] = IdempotentResult(
        "POST", "/v1/customers", {"name": "Ann", "metadata": {"a": "1"}}, 200, '{"id": "cus_0"}'
    )
    store.save()

    again = Store(data_file=data)
    assert numbers(list(again.newest_first("customer"))) == [3, 1, 0]
    assert again.get("customer", "cus_3") == {"id": "cus_3", "object": "customer", "n": 3}
    assert again.get("invoice", "in_1") == store.get("invoice", "in_1")
    assert again.get("customer", "cus_2") is None
    assert again.idempotency == store.idempotency
    assert again.dirty is False
    items, has_more = again.page("customer", keep_all, limit=1, starting_after="cus_3")
    assert (numbers(items), has_more) == ([1], True)


def test_deleted_object_still_anchors_a_cursor_after_save_and_load(tmp_path: Path) -> None:
    data = tmp_path / "state.json"
    store = filled_store(3, deleted={1})
    store.data_file = data
    store.save()
    again = Store(data_file=data)
    assert again.knows("customer", "cus_1")


def test_store_without_a_file_starts_empty_and_save_writes_nothing(tmp_path: Path) -> None:
    store = filled_store(2)
    store.save()
    assert list(tmp_path.iterdir()) == []
    assert Store(data_file=tmp_path / "absent.json").page("customer", keep_all, limit=5) == (
        [],
        False,
    )


def test_save_creates_missing_directories(tmp_path: Path) -> None:
    data = tmp_path / "deep" / "er" / "state.json"
    store = Store(data_file=data)
    store.add("customer", {"id": "cus_0", "object": "customer", "n": 0})
    store.save()
    assert json.loads(data.read_text())["objects"]["customer"][0]["id"] == "cus_0"


def test_save_clears_dirty_and_changes_set_it(tmp_path: Path) -> None:
    store = Store(data_file=tmp_path / "state.json")
    store.add("customer", {"id": "cus_0", "n": 0})
    assert store.dirty
    store.snapshot()
    assert store.dirty, "a snapshot alone saves nothing"
    store.save()
    assert not store.dirty
    store.touch()
    assert store.dirty


def test_save_writes_a_temporary_file_then_replaces_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "state.json"
    store = Store(data_file=data)
    store.add("customer", {"id": "cus_0", "object": "customer", "n": 0})
    store.save()
    old_text = data.read_text()
    store.add("customer", {"id": "cus_1", "object": "customer", "n": 1})

    replaced: list[tuple[Path, Path, str, str]] = []
    real_replace = os.replace

    def watching_replace(source: Any, target: Any) -> None:
        # At the moment of the swap the data file is still whole and old; the new state is
        # complete in the temporary file beside it.
        replaced.append(
            (Path(source), Path(target), Path(target).read_text(), Path(source).read_text())
        )
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", watching_replace)
    store.save()
    monkeypatch.undo()

    assert len(replaced) == 1
    source, target, target_before, source_before = replaced[0]
    assert target == data
    assert source.parent == data.parent and source.suffix == ".tmp"
    assert target_before == old_text
    assert len(json.loads(source_before)["objects"]["customer"]) == 2
    assert [path.name for path in tmp_path.iterdir()] == ["state.json"]
    assert len(json.loads(data.read_text())["objects"]["customer"]) == 2


def test_repeated_saves_leave_no_temporary_file(tmp_path: Path) -> None:
    data = tmp_path / "state.json"
    store = Store(data_file=data)
    for n in range(3):
        store.add("customer", {"id": f"cus_{n}", "object": "customer", "n": n})
        store.save()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["state.json"]
    assert not list(tmp_path.glob("*.tmp"))


# FaultTable


def test_fault_count_decrements_then_the_fault_is_removed() -> None:
    table = FaultTable()
    table.add(Fault(method="POST", path="/v1/invoices/*/finalize", status=500, count=2))
    first = table.take("POST", "/v1/invoices/in_1/finalize")
    assert first is not None and first.status == 500
    assert [fault["count"] for fault in table.listing()] == [1]
    assert table.take("POST", "/v1/invoices/in_2/finalize") is not None
    assert table.listing() == []
    assert table.take("POST", "/v1/invoices/in_3/finalize") is None


def test_fault_matches_only_its_method() -> None:
    table = FaultTable()
    table.add(Fault(method="POST", path="/v1/customers", status=500))
    assert table.take("GET", "/v1/customers") is None
    assert table.take("POST", "/v1/customers") is not None


def test_fault_with_star_method_matches_any_method() -> None:
    table = FaultTable()
    table.add(Fault(method="*", path="/v1/customers", status=503, count=3))
    assert table.take("GET", "/v1/customers") is not None
    assert table.take("POST", "/v1/customers") is not None
    assert table.take("DELETE", "/v1/customers") is not None
    assert table.take("GET", "/v1/customers") is None


def test_fault_path_is_a_glob() -> None:
    fault = Fault(method="*", path="/v1/invoices/*/finalize", status=500)
    assert fault.matches("POST", "/v1/invoices/in_123/finalize")
    assert not fault.matches("POST", "/v1/invoices/in_123/pay")
    assert not fault.matches("POST", "/v1/invoices")
    assert Fault(method="*", path="/v1/invoices/in_?", status=500).matches(
        "GET", "/v1/invoices/in_1"
    )
    assert not Fault(method="*", path="/v1/customers", status=500).matches(
        "GET", "/v1/customers/cus_1"
    )


def test_fault_star_stays_within_one_path_segment_and_double_star_crosses() -> None:
    one_segment = Fault(method="*", path="/v1/invoices/*", status=500)
    assert one_segment.matches("GET", "/v1/invoices/in_1")
    assert not one_segment.matches("POST", "/v1/invoices/in_1/finalize")
    any_depth = Fault(method="*", path="/v1/invoices/**", status=500)
    assert any_depth.matches("POST", "/v1/invoices/in_1/finalize")


def test_first_matching_fault_is_used_and_others_stay_armed() -> None:
    table = FaultTable()
    table.add(Fault(method="*", path="/v1/invoices/*", status=500))
    table.add(Fault(method="*", path="/v1/invoices/in_1", status=429))
    first = table.take("GET", "/v1/invoices/in_1")
    second = table.take("GET", "/v1/invoices/in_1")
    assert (first and first.status, second and second.status) == (500, 429)


def test_clear_disarms_every_fault() -> None:
    table = FaultTable()
    table.add(Fault(method="*", path="**", status=500, count=5))
    assert table.listing()
    table.clear()
    assert table.take("GET", "/v1/customers") is None


def test_fault_from_json_defaults() -> None:
    fault = Fault.from_json({"path": "/v1/customers", "status": 500})
    assert fault == Fault(method="*", path="/v1/customers", status=500)
    assert (fault.count, fault.delay, fault.when) == (1, 0.0, "before")


def test_fault_from_json_reads_every_field() -> None:
    fault = Fault.from_json(
        {
            "method": "post",
            "path": "/v1/invoices/*/pay",
            "count": 2,
            "status": 402,
            "delay": 0.5,
            "when": "after",
            "message": "declined",
        }
    )
    assert fault == Fault("POST", "/v1/invoices/*/pay", 2, 402, 0.5, "after", "declined")


def test_fault_from_json_accepts_a_delay_without_a_status() -> None:
    fault = Fault.from_json({"path": "/v1/customers", "delay": 2})
    assert (fault.status, fault.delay) == (None, 2.0)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"path": "/x", "status": 500, "colour": "red"}, "unknown fault fields: colour"),
        ({"status": 500}, "a fault needs a path pattern"),
        ({"path": "/x"}, "a fault needs a status, a delay, or both"),
        ({"path": "/x", "delay": 0}, "a fault needs a status, a delay, or both"),
        ({"path": "/x", "status": 399}, "status must be between 400 and 599"),
        ({"path": "/x", "status": 600}, "status must be between 400 and 599"),
        ({"path": "/x", "status": 200}, "status must be between 400 and 599"),
        ({"path": "/x", "status": 500, "when": "during"}, "when is 'before' or 'after'"),
        ({"path": "/x", "status": 500, "count": 0}, "count must be at least 1"),
        ({"path": "/x", "status": 500, "count": -2}, "count must be at least 1"),
    ],
)
def test_fault_from_json_refusals(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault.from_json(data)


def test_fault_statuses_at_the_bounds_are_accepted() -> None:
    assert Fault.from_json({"path": "/x", "status": 400}).status == 400
    assert Fault.from_json({"path": "/x", "status": 599}).status == 599


# money.format_amount


@pytest.mark.parametrize(
    "cents, currency, shown",
    [
        (15000, "usd", "$150.00"),
        (15000, "USD", "$150.00"),
        (0, "usd", "$0.00"),
        (5, "usd", "$0.05"),
        (99, "usd", "$0.99"),
        (-15000, "usd", "-$150.00"),
        (-5, "usd", "-$0.05"),
        (123456789, "usd", "$1,234,567.89"),
        (100000, "usd", "$1,000.00"),
        (-123456789, "eur", "-€1,234,567.89"),
        (2500, "gbp", "£25.00"),
        (2500, "cad", "CA$25.00"),
        (2500, "aud", "A$25.00"),
        (15000, "chf", "CHF 150.00"),
        (123456, "sek", "SEK 1,234.56"),
    ],
)
def test_format_amount(cents: int, currency: str, shown: str) -> None:
    assert format_amount(cents, currency) == shown


# hosted_page.card_problem

NOW = datetime(2025, 6, 15, tzinfo=UTC)
INCORRECT_NUMBER = "Your card number is incorrect."
INCOMPLETE_EXPIRY = "Your card's expiration date is incomplete."
PAST_EXPIRY = "Your card's expiration year is in the past."
INCOMPLETE_CVC = "Your card's security code is incomplete."
NOT_A_TEST_CARD = "The sandbox takes Stripe's test cards; try 4242 4242 4242 4242."


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "5555555555554444", "4000000000000002", "4000000000009995"],
)
def test_test_cards_with_a_future_expiry_and_cvc_pass(number: str) -> None:
    assert card_problem(number, "12/30", "123", NOW) is None


@pytest.mark.parametrize("expiry", ["06/25", "6/25", "06 / 25", "12/2030", "01/26"])
def test_expiry_forms_accepted(expiry: str) -> None:
    assert card_problem("4242424242424242", expiry, "123", NOW) is None


def test_four_digit_cvc_is_accepted() -> None:
    assert card_problem("4242424242424242", "12/30", "1234", NOW) is None


@pytest.mark.parametrize(
    "number",
    ["4242424242424241", "4242424242424243", "1234567812345678", "4242", "", "4242-4242-4242"],
)
def test_number_failing_luhn_or_shape_is_incorrect(number: str) -> None:
    assert card_problem(number, "12/30", "123", NOW) == INCORRECT_NUMBER


@pytest.mark.parametrize("expiry", ["", "13/30", "00/30", "1230", "12/3", "ab/cd", "12/030"])
def test_malformed_expiry_is_incomplete(expiry: str) -> None:
    assert card_problem("4242424242424242", expiry, "123", NOW) == INCOMPLETE_EXPIRY


@pytest.mark.parametrize("expiry", ["05/25", "12/24", "01/20", "05/2025"])
def test_past_expiry_is_refused(expiry: str) -> None:
    assert card_problem("4242424242424242", expiry, "123", NOW) == PAST_EXPIRY


def test_four_digit_year_from_another_century_is_in_the_past() -> None:
    assert card_problem("4242424242424242", "01/1999", "123", NOW) == PAST_EXPIRY


@pytest.mark.parametrize("cvc", ["", "12", "12345", "abc", "12a"])
def test_bad_cvc_is_incomplete(cvc: str) -> None:
    assert card_problem("4242424242424242", "12/30", cvc, NOW) == INCOMPLETE_CVC


@pytest.mark.parametrize("number", ["4111111111111111", "378282246310005", "6011111111111117"])
def test_valid_luhn_number_that_is_not_a_test_card_is_refused(number: str) -> None:
    assert card_problem(number, "12/30", "123", NOW) == NOT_A_TEST_CARD


def test_number_is_checked_before_expiry_and_cvc() -> None:
    assert card_problem("4242424242424241", "13/99", "", NOW) == INCORRECT_NUMBER
    assert card_problem("4242424242424242", "01/20", "", NOW) == PAST_EXPIRY
