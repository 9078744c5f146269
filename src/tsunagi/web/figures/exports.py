"""CSV and Excel writers, kept in :mod:`tsunagi.figures.exports` (the scheduled reports
use them outside the web layer); re-exported here for the pages that download files."""

from __future__ import annotations

from tsunagi.figures.exports import CSV_TYPE, XLSX_TYPE, to_csv, to_xlsx

__all__ = ["CSV_TYPE", "XLSX_TYPE", "to_csv", "to_xlsx"]
