"""Reports as CSV and XLSX files that finance can open safely, written as rows arrive.

Money is written as currency (integer cents in, `123.45` in CSV, a number with the currency
format in XLSX), dates as real dates, the header is bold, a totals row closes the sheet,
and any text that a spreadsheet would read as a formula (starting with =, +, -, @, tab or
CR) is prefixed with a quote so it stays text. CSV starts with a BOM so Excel reads UTF-8.

A workbook can carry a second sheet, "Parameters", saying what the report is (the pairs
given as `about`: report, range, who asked, when...) and its totals (the rows written and
the totals row's figures), so a file read later still says what it holds.

`write_csv` and `write_xlsx` take any iterable of rows (a streamed query result, a
generator) and never hold more than one batch of them: memory stays flat however many
rows there are (XLSX through openpyxl's write-only mode). Each batch is converted column
by column over its distinct values, so the cost per cell is close to the csv module's or
openpyxl's own. `to_csv` and `to_xlsx` are the same, into bytes, for small reports.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from typing import IO, Any

from core.errors import InvalidInput

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CURRENCY_FORMAT = '"$"#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PARAMETERS_SHEET = "Parameters"
HEADER_COLOUR = "635BFF"
BOM = "\ufeff".encode()  # makes Excel read the CSV as UTF-8
XLSX_MAX_ROWS = 1_048_576  # one sheet, header and totals row included
BATCH_ROWS = 2_000
WIDTH_SAMPLE_ROWS = 200
# Characters XML 1.0 cannot carry; openpyxl refuses a string holding any of them.
XLSX_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
SHEET_TITLE_ILLEGAL = re.compile(r"[\\*?:/\[\]]")

Progress = Callable[[int], None]  # called with the number of rows written so far


@dataclass(frozen=True)
class Column:
    title: str
    money: bool = False  # values are integer cents
    date: bool = False  # values are dates (a datetime is written as its UTC date)


@dataclass(frozen=True)
class Sums:
    """A totals row worked out while writing: `label` in the first column, the sum of each
    money column, the other cells empty. It always equals the sum of the rows written."""

    label: str = "Total"


Total = Sequence[Any] | Sums | None
About = Sequence[tuple[str, Any]]  # (name, value) pairs for the parameters sheet


class TooManyRows(InvalidInput):
    """More rows than one XLSX sheet holds."""


def safe_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def money_text(cents: int) -> str:
    """Cents as `1234.56` (`-0.05` for -5), exactly, for CSV."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def fits_xlsx(rows: int) -> bool:
    """Whether `rows` data rows, a header and a totals row fit one XLSX sheet."""
    return rows + 2 <= XLSX_MAX_ROWS


def _as_date(value: date) -> date:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).date()
    return value


def _is_cents(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Each converter gets one column of a batch and returns it converted, or None when it is
# written as it is. They look at the column's types first and its distinct values only when
# something may change, so a column that needs nothing costs next to nothing.
Converter = Callable[[Sequence[Any]], Sequence[Any] | None]


def _replace(column: Sequence[Any], replacements: dict[Any, Any]) -> Sequence[Any] | None:
    return tuple(map(replacements.get, column, column)) if replacements else None


def _has_text(types: set[type]) -> bool:
    return any(issubclass(t, str) for t in types)


def _formula_like(joined: str, count: int) -> set[str] | None:
    """The values that start like a formula, of `count` text values joined by newlines,
    found by searching the joined text (no work per value); None when a value holds a
    newline, so that the search cannot tell where values start."""
    if joined.count("\n") != count - 1:
        return None
    found = set()
    if joined.startswith(FORMULA_STARTS):
        found.add(joined.split("\n", 1)[0])
    for start in FORMULA_STARTS:
        at = joined.find("\n" + start)
        while at != -1:
            end = joined.find("\n", at + 1)
            found.add(joined[at + 1 : end if end != -1 else len(joined)])
            at = end if end == -1 else joined.find("\n" + start, end)
    return found


def _csv_text_value(value: Any) -> Any:
    return safe_text(value) if isinstance(value, str) else value


def _xlsx_text_value(value: Any) -> Any:
    if isinstance(value, str):
        return safe_text(XLSX_ILLEGAL.sub("", value))
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones
    return value


def _csv_money(column: Sequence[Any]) -> Sequence[Any] | None:
    return _replace(
        column, {v: money_text(v) if _is_cents(v) else _csv_text_value(v) for v in set(column)}
    )


def _xlsx_money(column: Sequence[Any]) -> Sequence[Any] | None:
    return _replace(
        column, {v: v / 100 if _is_cents(v) else _xlsx_text_value(v) for v in set(column)}
    )


def _dates(column: Sequence[Any]) -> Sequence[Any] | None:
    if not any(issubclass(t, datetime) for t in set(map(type, column))):
        return None
    return _replace(column, {v: _as_date(v) for v in set(column) if isinstance(v, datetime)})


def _csv_text(column: Sequence[Any]) -> Sequence[Any] | None:
    types = set(map(type, column))
    if not _has_text(types):
        return None
    found = _formula_like("\n".join(column), len(column)) if types == {str} else None
    if found is None:
        found = {v for v in set(column) if isinstance(v, str) and v.startswith(FORMULA_STARTS)}
    return _replace(column, {v: "'" + v for v in found})


def _xlsx_text(column: Sequence[Any]) -> Sequence[Any] | None:
    types = set(map(type, column))
    if not _has_text(types) and not any(issubclass(t, datetime) for t in types):
        return None
    if types == {str}:
        joined = "\n".join(column)
        found = None if XLSX_ILLEGAL.search(joined) else _formula_like(joined, len(column))
        if found is not None:
            return _replace(column, {v: "'" + v for v in found})
    changed = {}
    for value in set(column):
        safe = _xlsx_text_value(value)
        if safe is not value:
            changed[value] = safe
    return _replace(column, changed)


def _converters(
    columns: Sequence[Column], money: Converter, day: Converter, text: Converter
) -> list[Converter]:
    return [money if c.money else day if c.date else text for c in columns]


def _convert(converters: Sequence[Converter], cells: list[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """A batch given column by column, converted, back as rows."""
    for index, convert in enumerate(converters):
        converted = convert(cells[index])
        if converted is not None:
            cells[index] = converted
    return list(zip(*cells, strict=True))


def _sum_cents(values: Sequence[Any]) -> int:
    try:
        return int(sum(values))
    except TypeError:  # blanks among the amounts
        return sum(v for v in values if _is_cents(v))


class _Rows:
    """`rows` in converted batches; counts the rows and sums the money columns (in cents,
    before conversion) as they pass, for the totals row."""

    def __init__(
        self, columns: Sequence[Column], rows: Iterable[Sequence[Any]], converters: list[Converter]
    ) -> None:
        self.columns = columns
        self.converters = converters
        self.count = 0
        self._rows = iter(rows)
        self._sums = [0 for _ in columns]
        self._money = [i for i, c in enumerate(columns) if c.money]

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        while batch := list(islice(self._rows, BATCH_ROWS)):
            cells: list[Sequence[Any]] = list(zip(*batch, strict=True))
            if len(cells) != len(self.columns):
                raise ValueError(f"rows have {len(cells)} values for {len(self.columns)} columns")
            for index in self._money:
                self._sums[index] += _sum_cents(cells[index])
            self.count += len(batch)
            yield _convert(self.converters, cells)

    def totals(self, total: Total) -> tuple[Any, ...] | None:
        """The totals row, converted like the rows (None: there is none)."""
        if total is None:
            return None
        if isinstance(total, Sums):
            row: Sequence[Any] = [
                self._sums[i] if c.money else total.label if i == 0 else ""
                for i, c in enumerate(self.columns)
            ]
        else:
            row = total
        if len(row) != len(self.columns):
            raise ValueError(f"the totals row has {len(row)} values for {len(self.columns)}")
        (converted,) = _convert(self.converters, [(v,) for v in row])
        return converted


def write_csv(
    out: IO[bytes],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    total: Total = None,
    *,
    progress: Progress | None = None,
) -> int:
    """Write the header, `rows` as they come, and the totals row to the binary stream
    `out` (UTF-8 with a BOM); returns the number of rows written, totals row excluded."""
    # Each batch goes through a StringIO and out as one encoded chunk.
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> None:
        out.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()

    out.write(BOM)
    writer.writerow([c.title for c in columns])
    source = _Rows(columns, rows, _converters(columns, _csv_money, _dates, _csv_text))
    for batch in source.batches():
        writer.writerows(batch)
        flush()
        if progress is not None:
            progress(source.count)
    last = source.totals(total)
    if last is not None:
        writer.writerow(last)
    flush()
    return source.count


def write_xlsx(
    out: IO[bytes],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    total: Total = None,
    *,
    title: str = "Report",
    currency_format: str = CURRENCY_FORMAT,
    progress: Progress | None = None,
    about: About = (),
) -> int:
    """Write one sheet (a bold header on the brand colour, frozen; `rows` as they come; a
    bold totals row) to the binary stream `out` in openpyxl's write-only mode, so memory
    stays flat; returns the number of rows written, totals row excluded. With `about`, a
    second sheet lists those parameters and the totals. More rows than a sheet holds raise
    `TooManyRows`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet: Any = book.create_sheet(SHEET_TITLE_ILLEGAL.sub(" ", safe_text(title))[:31] or "Report")
    sheet.freeze_panes = "A2"

    def cell(value: Any, column: Column | None = None, **style: Any) -> Any:
        made = WriteOnlyCell(sheet, value)
        for name, setting in style.items():
            setattr(made, name, setting)
        if column is not None and (column.money or column.date) and not isinstance(value, str):
            made.number_format = currency_format if column.money else DATE_FORMAT
        return made

    header: dict[str, Any] = {
        "font": Font(bold=True, color="FFFFFF"),
        "fill": PatternFill("solid", fgColor=HEADER_COLOUR),
    }

    source = _Rows(columns, rows, _converters(columns, _xlsx_money, _dates, _xlsx_text))
    try:
        batches = source.batches()
        first = next(batches, [])
        # Write-only mode takes column widths before the first row: from the first rows.
        for index, column in enumerate(columns):
            sample = [len(_shown(row[index], column)) for row in first[:WIDTH_SAMPLE_ROWS]]
            width = min(max(len(column.title), *sample, 8) + 2, 50)
            sheet.column_dimensions[get_column_letter(index + 1)].width = width
        sheet.append([cell(c.title, **header) for c in columns])

        # One formatted cell per money or date column, refilled on every row: write-only
        # mode writes a row out as it is appended, so the cell is free again straight after.
        formatted = [(i, cell(None, c)) for i, c in enumerate(columns) if c.money or c.date]
        room = XLSX_MAX_ROWS - 1 - (total is not None)
        for batch in _chain(first, batches):
            if source.count > room:
                raise TooManyRows(f"more than {room:,} rows do not fit one XLSX sheet; export CSV")
            for values in batch:
                row = list(values)
                for index, shared in formatted:
                    if row[index] is not None:
                        shared.value = row[index]
                        row[index] = shared
                sheet.append(row)
            if progress is not None:
                progress(source.count)
        last = source.totals(total)
        if last is not None:
            bold = Font(bold=True)
            sheet.append(
                [
                    cell(None if v == "" else v, c, font=bold)
                    for v, c in zip(last, columns, strict=True)
                ]
            )
        if about:
            parameters = book.create_sheet(PARAMETERS_SHEET)
            parameters.column_dimensions["A"].width = 24
            parameters.column_dimensions["B"].width = 40
            parameters.append([cell("Parameter", **header), cell("Value", **header)])
            for name, value, column in _parameters(columns, about, source.count, last):
                made = cell(value, column)
                if isinstance(value, datetime):
                    made.number_format = DATETIME_FORMAT
                parameters.append([cell(name, font=Font(bold=True)), made])
    except BaseException:
        for each in book.worksheets:
            _discard(each)
        raise
    book.save(out)
    return source.count


def _parameters(
    columns: Sequence[Column], about: About, count: int, totals: tuple[Any, ...] | None
) -> Iterator[tuple[str, Any, Column]]:
    """The parameters sheet's rows (name, value as a cell takes it, the column whose format
    it gets): `about`, then the number of rows written and each figure of the (converted)
    totals row under its own column's title and format."""
    for name, value in about:
        yield name, _xlsx_text_value(value), Column(name, date=isinstance(value, date))
    yield "Rows", count, Column("Rows")
    if totals is not None:
        for column, value in zip(columns[1:], totals[1:], strict=True):
            if value not in ("", None):
                yield f"Total {column.title.lower()}", value, column


def _discard(sheet: Any) -> None:
    """Close a write-only sheet that will not be saved, and remove the temporary file
    openpyxl streams it into (otherwise kept until the process exits)."""
    with contextlib.suppress(Exception):
        sheet.close()
    writer = getattr(sheet, "_writer", None)
    if writer is not None and isinstance(writer.out, str):
        with contextlib.suppress(Exception):
            writer.cleanup()


def _chain(
    first: list[tuple[Any, ...]], rest: Iterator[list[tuple[Any, ...]]]
) -> Iterator[list[tuple[Any, ...]]]:
    if first:
        yield first
    yield from rest


def _shown(value: Any, column: Column) -> str:
    """About what a spreadsheet shows for a cell, to size its column."""
    if value is None:
        return ""
    if column.money and isinstance(value, float):
        return f"${value:,.2f}"
    return str(value)


def to_csv(columns: Sequence[Column], rows: Iterable[Sequence[Any]], total: Total = None) -> bytes:
    buffer = io.BytesIO()
    write_csv(buffer, columns, rows, total)
    return buffer.getvalue()


def to_xlsx(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    total: Total = None,
    *,
    title: str = "Report",
    currency_format: str = CURRENCY_FORMAT,
    about: About = (),
) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(
        buffer, columns, rows, total, title=title, currency_format=currency_format, about=about
    )
    return buffer.getvalue()
