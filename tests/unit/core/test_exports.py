"""core.reporting.exports on its own: CSV and XLSX read back equal to the rows written
(formula-like text quoted, money exact, dates as dates, totals equal to the rows), written
as the rows arrive, and refused when they cannot be written faithfully."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from core.reporting import exports
from core.reporting.exports import (
    BOM,
    CURRENCY_FORMAT,
    DATE_FORMAT,
    FORMULA_STARTS,
    Column,
    Sums,
    TooManyRows,
    fits_xlsx,
    money_text,
    safe_text,
    to_csv,
    to_xlsx,
    write_csv,
    write_xlsx,
)

COLUMNS = [
    Column("Paid on", date=True),
    Column("Job #"),
    Column("Customer"),
    Column("Amount", money=True),
]
DANGEROUS = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", "\tTab", "\rReturn"]


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def read_xlsx(data: bytes) -> Any:
    return load_workbook(io.BytesIO(data)).active


def sample_rows() -> list[tuple[Any, ...]]:
    late_evening = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    return [
        (date(2026, 1, 2), 1, "Ana", 12345),
        (datetime(2026, 1, 3, 9, 0, tzinfo=UTC), 2, "=cmd|' /C calc'!A0", 5),
        (late_evening, 3, "+1", -250),  # 04:30 UTC on March 2nd
        (None, 4, None, None),
        (date(2026, 1, 5), 5, "a\n=b", 100_000_000_00),
    ]


# ---------------------------------------------------------------------------------------
# CSV


def test_csv_reads_back_as_the_rows_with_money_dates_and_quoted_formulas() -> None:
    table = read_csv(to_csv(COLUMNS, sample_rows(), Sums()))
    assert table == [
        ["Paid on", "Job #", "Customer", "Amount"],
        ["2026-01-02", "1", "Ana", "123.45"],
        ["2026-01-03", "2", "'=cmd|' /C calc'!A0", "0.05"],
        ["2026-03-02", "3", "'+1", "-2.50"],
        ["", "4", "", ""],
        ["2026-01-05", "5", "a\n=b", "100000000.00"],
        ["Total", "", "", money_text(12345 + 5 - 250 + 100_000_000_00)],
    ]


@pytest.mark.parametrize("name", DANGEROUS)
def test_csv_quotes_every_formula_start(name: str) -> None:
    table = read_csv(to_csv([Column("Customer")], [[name], ["plain"]], ["Total"]))
    assert [row[0] for row in table[1:]] == ["'" + name, "plain", "Total"]


def test_a_given_totals_row_is_written_as_given() -> None:
    table = read_csv(to_csv(COLUMNS, [], ["Total", "", "=x", 7]))
    assert table == [["Paid on", "Job #", "Customer", "Amount"], ["Total", "", "'=x", "0.07"]]


def test_money_text_is_exact() -> None:
    assert [money_text(c) for c in (0, 5, -5, 100, 123456789012345678)] == [
        "0.00",
        "0.05",
        "-0.05",
        "1.00",
        "1234567890123456.78",
    ]


def test_rows_are_written_as_they_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer holds one batch: by the time the generator yields the fourth batch, the
    first three are in the output."""
    monkeypatch.setattr(exports, "BATCH_ROWS", 10)
    out = io.BytesIO()
    seen_written: list[int] = []

    def rows() -> Iterator[Sequence[Any]]:
        for n in range(100):
            if n == 30:
                seen_written.append(out.getvalue().count(b"\r\n"))
            yield (date(2026, 1, 1), n, f"c{n}", n)

    progress: list[int] = []
    assert write_csv(out, COLUMNS, rows(), Sums(), progress=progress.append) == 100
    assert seen_written == [1 + 30]  # the header and three batches of ten
    assert progress == list(range(10, 101, 10))
    table = read_csv(out.getvalue())
    assert len(table) == 1 + 100 + 1
    assert table[-1] == ["Total", "", "", money_text(sum(range(100)))]


def test_the_caller_keeps_its_stream() -> None:
    out = io.BytesIO()
    write_csv(out, COLUMNS, sample_rows())
    out.write(b"still open")
    assert out.getvalue().endswith(b"still open")


def test_rows_of_the_wrong_width_are_refused() -> None:
    with pytest.raises(ValueError):
        to_csv(COLUMNS, [(date(2026, 1, 1), 1, "x", 1), (date(2026, 1, 1), 1, "x")])
    with pytest.raises(ValueError):
        to_csv(COLUMNS, [(date(2026, 1, 1), 1, "x")])
    with pytest.raises(ValueError):
        to_xlsx(COLUMNS, [], ["Total", 1])


# ---------------------------------------------------------------------------------------
# XLSX


def test_xlsx_reads_back_as_the_rows_with_formats_and_styles() -> None:
    sheet = read_xlsx(to_xlsx(COLUMNS, sample_rows(), Sums(), title="Payments"))
    assert sheet.title == "Payments"
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == ["Paid on", "Job #", "Customer", "Amount"]
    assert all(c.font.bold for c in rows[0])
    body = rows[1:-1]
    assert [r[0].value.date() if r[0].value else None for r in body] == [
        date(2026, 1, 2),
        date(2026, 1, 3),
        date(2026, 3, 2),
        None,
        date(2026, 1, 5),
    ]
    assert all(r[0].is_date and r[0].number_format == DATE_FORMAT for r in body if r[0].value)
    assert [(r[1].value, r[1].data_type) for r in body] == [(n, "n") for n in range(1, 6)]
    assert [r[2].value for r in body] == ["Ana", "'=cmd|' /C calc'!A0", "'+1", None, "a\n=b"]
    assert all(r[2].data_type == "s" for r in body if r[2].value)
    amounts = [r[3] for r in body if r[3].value is not None]
    assert [round(c.value * 100) for c in amounts] == [12345, 5, -250, 100_000_000_00]
    assert all(c.data_type == "n" and c.number_format == CURRENCY_FORMAT for c in amounts)
    total = rows[-1]
    assert total[0].value == "Total" and all(c.font.bold for c in total)
    assert round(total[3].value * 100) == 12345 + 5 - 250 + 100_000_000_00
    assert total[3].number_format == CURRENCY_FORMAT


def xml_read(text: str) -> str:
    """Text as an XML reader gives it back: line ends normalised to newlines."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize("name", DANGEROUS)
def test_xlsx_keeps_formula_like_text_as_text(name: str) -> None:
    sheet = read_xlsx(to_xlsx([Column("Customer")], [[name]], ["Total"]))
    assert (sheet["A2"].data_type, sheet["A2"].value) == ("s", xml_read("'" + name))


def test_xlsx_drops_characters_xml_cannot_carry_then_quotes() -> None:
    rows = [["Bob\x0bby"], ["\x01=cmd"], ["fine"]]
    sheet = read_xlsx(to_xlsx([Column("Customer")], rows, title="a/b:c*d?e[f]" + "x" * 40))
    assert [c.value for (c,) in sheet.iter_rows(min_row=2)] == ["Bobby", "'=cmd", "fine"]
    assert sheet.title == "a b c d e f " + "x" * 19  # no character a sheet name refuses


def test_xlsx_column_widths_follow_the_first_rows() -> None:
    sheet = read_xlsx(to_xlsx([Column("Id"), Column("Name")], [[1, "x" * 30], [2, "y"]]))
    assert sheet.column_dimensions["A"].width == 10
    assert sheet.column_dimensions["B"].width == 32


def test_xlsx_refuses_more_rows_than_a_sheet_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 12)
    monkeypatch.setattr(exports, "BATCH_ROWS", 4)
    assert fits_xlsx(10) and not fits_xlsx(11)
    to_xlsx([Column("n")], [[n] for n in range(10)], Sums())  # 10 rows, header and total
    with pytest.raises(TooManyRows):
        to_xlsx([Column("n")], [[n] for n in range(11)], Sums())


def test_xlsx_streams_with_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "BATCH_ROWS", 7)
    progress: list[int] = []
    rows = ((date(2026, 1, 1) + timedelta(days=n), n, f"c{n}", n) for n in range(20))
    out = io.BytesIO()
    assert write_xlsx(out, COLUMNS, rows, Sums(), progress=progress.append) == 20
    assert progress == [7, 14, 20]
    sheet = read_xlsx(out.getvalue())
    assert sheet.max_row == 22
    assert [r[1] for r in sheet.iter_rows(min_row=2, max_row=21, values_only=True)] == list(
        range(20)
    )


# ---------------------------------------------------------------------------------------
# Any text


text_values = st.one_of(
    st.none(),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
    st.sampled_from(DANGEROUS + ["a\n=b", "=b\nc", "\n=c", "x\r\n@y"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(text_values, min_size=1, max_size=40))
def test_any_text_reads_back_quoted_exactly_when_it_starts_like_a_formula(
    values: list[str | None],
) -> None:
    rows = [[v] for v in values]
    expected = ["" if v is None else safe_text(v) for v in values]
    table = read_csv(to_csv([Column("Text")], rows))
    assert [row[0] for row in table[1:]] == expected

    sheet = read_xlsx(to_xlsx([Column("Text")], rows))
    shown = [sheet.cell(row=i + 2, column=1).value for i in range(len(values))]
    assert shown == [
        None if v is None or not exports.XLSX_ILLEGAL.sub("", v) else expected_xlsx(v)
        for v in values
    ]


def expected_xlsx(value: str) -> str:
    return xml_read(safe_text(exports.XLSX_ILLEGAL.sub("", value)))


def test_starts_are_the_documented_ones() -> None:
    assert FORMULA_STARTS == ("=", "+", "-", "@", "\t", "\r")
