"""CSV and Excel files of report rows and drill-down contacts, every cell made inert.

Every text cell goes through :func:`tsunagi.figures.cells.inert`: a value starting with
``=``, ``+``, ``-``, ``@``, tab or CR is written with a leading apostrophe so spreadsheet
programs show it as text. Excel files are written by openpyxl (write-only mode, one sheet);
CSV is UTF-8 with a byte-order mark so Excel opens Japanese text correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook

from tsunagi.figures.cells import Cell, inert

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([inert(h) for h in header])
    for row in rows:
        writer.writerow(["" if value is None else inert(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.append([inert(h) for h in header])
    for row in rows:
        sheet.append([inert(value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
