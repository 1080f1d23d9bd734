"""Reports as CSV and XLSX files that finance can open safely.

Money is written as currency, the header is bold, a totals row closes the sheet, and any
text that a spreadsheet would read as a formula (starting with =, +, -, @, tab or CR) is
prefixed with a quote so it stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    title: str
    money: bool = False  # values are integer cents


def safe_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: Any, column: Column) -> Any:
    if column.money and isinstance(value, int):
        return Decimal(value) / 100
    if isinstance(value, str):
        return safe_text(value)
    return value


def to_csv(
    columns: Sequence[Column], rows: Sequence[Sequence[Any]], total: Sequence[Any] | None = None
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.title for c in columns])
    for row in [*rows, *([total] if total is not None else [])]:
        writer.writerow(
            [
                f"{_cell(v, c):.2f}" if c.money and isinstance(v, int) else _cell(v, c)
                for v, c in zip(row, columns, strict=True)
            ]
        )
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def to_xlsx(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    total: Sequence[Any] | None = None,
    *,
    title: str = "Report",
    currency_format: str = '"$"#,##0.00',
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = safe_text(title)[:31]
    sheet.append([c.title for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="635BFF")
    for row in rows:
        sheet.append([_cell(v, c) for v, c in zip(row, columns, strict=True)])
    if total is not None:
        sheet.append([_cell(v, c) for v, c in zip(total, columns, strict=True)])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        width = max([len(column.title)] + [len(str(r[index - 1])) for r in rows[:200]])
        sheet.column_dimensions[letter].width = min(max(width + 2, 10), 50)
        if column.money:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = currency_format
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
