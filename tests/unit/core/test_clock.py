"""The application's clock: real time, or as far ahead as the demo's clock file says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import clock
from core.db.clock import CLOCK_FILE_VARIABLE, clock_offset
from core.db.models import utcnow


@pytest.fixture(autouse=True)
def fresh_reads() -> Iterator[None]:
    clock.forget()
    yield
    clock.forget()


def publish(path: Path, seconds: int) -> None:
    """As the sandbox writes it: a whole new file each time."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"offset": seconds}))
    temporary.replace(path)


def test_without_a_clock_file_it_is_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLOCK_FILE_VARIABLE, raising=False)
    assert clock_offset() == timedelta(0)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=1)


def test_the_clock_file_moves_the_apps_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clock.json"
    monkeypatch.setenv(CLOCK_FILE_VARIABLE, str(path))
    assert clock_offset() == timedelta(0)  # not written yet: real time
    publish(path, 7 * 86400)
    assert clock_offset() == timedelta(days=7)
    assert abs(utcnow() - datetime.now(UTC) - timedelta(days=7)) < timedelta(seconds=1)
    publish(path, -3600)
    clock.forget()  # what a process that moved the clock itself does
    assert clock_offset() == timedelta(hours=-1)


@pytest.mark.parametrize("text", ["", "not json", "{}", '{"offset": "soon"}', "[1]"])
def test_an_unreadable_clock_file_is_real_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = tmp_path / "clock.json"
    path.write_text(text)
    monkeypatch.setenv(CLOCK_FILE_VARIABLE, str(path))
    assert clock_offset() == timedelta(0)
