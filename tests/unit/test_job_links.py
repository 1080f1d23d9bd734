"""The jobs pages' view as a query string, and back."""

from __future__ import annotations

from datetime import date

from dashboard.components.job_links import View, from_params, to_params

STATUSES = ("new", "completed", "paid", "cancelled")
SIZES = (10, 25, 50, 100)


def read(params: dict[str, list[str]], *, admin: bool = True) -> tuple[View, list[str]]:
    return from_params(
        params, statuses=STATUSES, provider_ids=[3, 4] if admin else None, page_sizes=SIZES
    )


def test_the_default_view_is_a_plain_address() -> None:
    assert to_params(View()) == {}
    assert read({}) == (View(), [])


def test_every_part_of_a_view_goes_into_the_link_and_comes_back() -> None:
    view = View(
        job_id=123,
        statuses=("new", "completed"),
        provider_id=4,
        search="Lee",
        created_from=date(2026, 3, 1),
        created_to=date(2026, 3, 31),
        overdue=True,
        page=3,
        page_size=50,
    )
    params = to_params(view)
    assert params == {
        "job": ["123"],
        "status": ["new", "completed"],
        "provider": ["4"],
        "search": ["Lee"],
        "from": ["2026-03-01"],
        "to": ["2026-03-31"],
        "overdue": ["1"],
        "page": ["3"],
        "size": ["50"],
    }
    assert read(params) == (view, [])


def test_one_day_is_written_once() -> None:
    day = date(2026, 3, 1)
    assert to_params(View(created_from=day, created_to=day)) == {"from": ["2026-03-01"]}
    assert read({"from": ["2026-03-01"]})[0].created_to == day
    assert read({"to": ["2026-03-01"]})[0].created_from == day
    # Dates the wrong way round are the same range.
    swapped = read({"from": ["2026-03-31"], "to": ["2026-03-01"]})[0]
    assert (swapped.created_from, swapped.created_to) == (date(2026, 3, 1), date(2026, 3, 31))


def test_what_cannot_be_used_is_named_and_left_at_its_default() -> None:
    view, problems = read(
        {
            "job": ["12x"],
            "status": ["paid", "lost", "paid"],
            "provider": ["9"],
            "from": ["yesterday"],
            "page": ["0"],
            "size": ["7"],
        }
    )
    assert view == View(statuses=("paid",))
    assert problems == [
        "status=lost",
        "provider=9",
        "from=yesterday",
        "job=12x",
        "page=0",
        "size=7",
    ]


def test_a_page_without_a_provider_filter_ignores_a_provider_in_the_link() -> None:
    view, problems = read({"provider": ["3"], "overdue": ["1"]}, admin=False)
    assert (view.provider_id, view.overdue, problems) == (None, True, [])


def test_invoice_words_go_into_the_link_and_unknown_ones_are_named() -> None:
    view = View(invoice_statuses=("partly refunded", "disputed"))
    params = to_params(view)
    assert params == {"invoice": ["partly refunded", "disputed"]}
    assert read(params) == (view, [])
    found, problems = read({"invoice": ["dispute lost", "lost", "dispute lost", "refunded"]})
    assert found == View(invoice_statuses=("dispute lost", "refunded"))
    assert problems == ["invoice=lost"]
