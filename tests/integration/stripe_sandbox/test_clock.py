"""The sandbox's clock: moved forward, or set to a moment (a demo loading its history), and
published to a clock file for the processes that keep the same time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import advance_clock
from tests.support.sandbox import SandboxControl, running_sandbox

DAY = 86400


@pytest.fixture(scope="module")
def publishing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxControl, Path]]:
    """One sandbox for the module, with a clock file (each test starts from a reset)."""
    clock_file = tmp_path_factory.mktemp("clock") / "clock.json"
    with running_sandbox("--clock-file", str(clock_file)) as base:
        control = SandboxControl(base)
        assert offset_in(clock_file) == 0  # published as the sandbox starts
        yield control, clock_file
        control.http.close()


@pytest.fixture
def published(publishing: tuple[SandboxControl, Path]) -> tuple[SandboxControl, Path]:
    publishing[0].reset()
    return publishing


def offset_in(clock_file: Path) -> int:
    return int(json.loads(clock_file.read_text())["offset"])


def test_the_clock_moves_forward_and_is_published(published: tuple[SandboxControl, Path]) -> None:
    sandbox, clock_file = published
    assert offset_in(clock_file) == 0
    moved = sandbox.http.post("/_sandbox/clock", json={"seconds": 3 * DAY}).json()
    assert moved["offset"] == 3 * DAY and abs(moved["now"] - time.time() - 3 * DAY) < 5
    assert offset_in(clock_file) == 3 * DAY
    assert sandbox.http.get("/_sandbox/clock").json()["offset"] == 3 * DAY
    # What the sandbox makes from now on is dated on its clock.
    customer = sandbox.client.v1.customers.create(params={"name": "Ann"})
    assert abs(customer.created - time.time() - 3 * DAY) < 5
    sandbox.reset()
    assert offset_in(clock_file) == 0


def test_the_clock_can_be_set_to_a_past_moment(published: tuple[SandboxControl, Path]) -> None:
    sandbox, clock_file = published
    month_ago = int(time.time()) - 30 * DAY
    answer = sandbox.http.post("/_sandbox/clock", json={"at": month_ago}).json()
    assert abs(answer["now"] - month_ago) < 5
    assert abs(offset_in(clock_file) + 30 * DAY) < 5
    customer = sandbox.client.v1.customers.create(params={"name": "Ann"})
    invoice = sandbox.client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    assert abs(invoice.created - month_ago) < 5
    assert invoice.id is not None
    sent = sandbox.client.v1.invoices.send_invoice(invoice.id)
    assert sent.due_date is not None and abs(sent.due_date - (month_ago + 7 * DAY)) < 5


def test_a_held_clock_stands_still_until_it_is_moved(
    published: tuple[SandboxControl, Path],
) -> None:
    """As a Stripe test clock: what is made while it is held is made at that very second."""
    sandbox, _ = published
    week_ago = int(time.time()) - 7 * DAY
    sandbox.hold_clock(week_ago)
    customer = sandbox.client.v1.customers.create(params={"name": "Ann"})
    made = [
        sandbox.client.v1.invoices.create(
            params={
                "customer": customer.id,
                "collection_method": "send_invoice",
                "days_until_due": 7,
            }
        ).created
        for _ in range(3)
    ]
    assert made == [week_ago] * 3
    assert sandbox.http.get("/_sandbox/clock").json() | {"offset": None} == {
        "now": week_ago,
        "offset": None,
        "held": True,
    }
    moved = sandbox.http.post("/_sandbox/clock", json={"seconds": DAY}).json()
    assert abs(moved["now"] - (week_ago + DAY)) < 5 and moved["held"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"seconds": -60},
        {},
        {"seconds": 1, "at": 1},
        {"seconds": "soon"},
        [1],
        {"at": 1, "hold": "yes"},
        {"at": 1, "freeze": True},
    ],
)
def test_a_bad_move_is_refused_and_changes_nothing(
    published: tuple[SandboxControl, Path], body: object
) -> None:
    sandbox, clock_file = published
    answer = sandbox.http.post("/_sandbox/clock", json=body)
    assert answer.status_code == 400 and answer.json()["error"]["message"]
    assert sandbox.http.get("/_sandbox/clock").json()["offset"] == 0
    assert offset_in(clock_file) == 0


def test_make_advance_clock_moves_it(
    published: tuple[SandboxControl, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, clock_file = published
    monkeypatch.setenv("SANDBOX_PORT", sandbox.base.rsplit(":", 1)[1])
    advance_clock.main(["--days", "2"])
    assert offset_in(clock_file) == 2 * DAY
    with pytest.raises(SystemExit):
        advance_clock.main(["--days", "0"])
    assert offset_in(clock_file) == 2 * DAY
