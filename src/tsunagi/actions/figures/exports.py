"""A figures report as a file: the one code path behind the CSV/Excel downloads of
``/api/v1/figures/report.csv|.xlsx`` and the files the scheduled reports attach, so an
emailed report is the same file a manager downloads for the same table and filters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tsunagi.actions.figures import reports
from tsunagi.adapters.storage.db import Database
from tsunagi.domain.errors import InvalidInputError
from tsunagi.figures.cells import Cell
from tsunagi.figures.exports import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx


@dataclass(frozen=True, slots=True)
class LabelledRow:
    bucket: str
    keys: list[str]
    labels: list[str]
    measures: dict[str, int]
    figures: dict[str, float | None]


@dataclass(frozen=True, slots=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes


async def labelled_rows(
    db: Database, tenant_id: uuid.UUID, query: reports.ReportQuery, locale: str
) -> list[LabelledRow]:
    """The report's rows with the display names of their dimension keys in ``locale``."""
    found = await reports.report(db, tenant_id, query)
    names = await reports.names(db, tenant_id, locale)
    return [
        LabelledRow(
            bucket=row.bucket,
            keys=list(row.keys),
            labels=[
                names.get(dim, {}).get(key, key)
                for dim, key in zip(query.by, row.keys, strict=True)
            ],
            measures=row.measures,
            figures=row.figures,
        )
        for row in found
    ]


def table_of(
    query: reports.ReportQuery, rows: list[LabelledRow]
) -> tuple[list[str], list[list[Cell]]]:
    """Header and body: bucket, keys, names, figures, then measures (sorted)."""
    measure_names = sorted({n for row in rows for n in row.measures})
    figure_names = list(rows[0].figures) if rows else []
    header = ["bucket", *query.by, *(f"{d}_name" for d in query.by), *figure_names, *measure_names]
    body: list[list[Cell]] = []
    for row in rows:
        line: list[Cell] = [row.bucket, *row.keys, *row.labels]
        line += [row.figures.get(n) for n in figure_names]
        line += [row.measures.get(n, 0) for n in measure_names]
        body.append(line)
    return header, body


async def report_file(
    db: Database,
    tenant_id: uuid.UUID,
    query: reports.ReportQuery,
    *,
    locale: str,
    file_format: str,
) -> ExportFile:
    """The report as CSV (UTF-8 with BOM) or Excel, formula-like text made inert."""
    if file_format not in ("csv", "xlsx"):
        raise InvalidInputError("file_format must be csv or xlsx")
    header, body = table_of(query, await labelled_rows(db, tenant_id, query, locale))
    name = f"figures-{query.table}-{query.day_from}-{query.day_to}.{file_format}"
    if file_format == "csv":
        return ExportFile(name, CSV_TYPE, to_csv(header, body))
    title = f"{query.table} {query.grain}"
    return ExportFile(name, XLSX_TYPE, to_xlsx(title, header, body))
