"""Import the organisation, key accounts and KPI actuals from three CSV files (see docs/import-formats.md).

HR exports these files from other systems, so the importer is strict and explains itself: every file is
parsed and validated completely before anything is written, every problem is reported as
``file:line:column: message``, and a file with any problem writes nothing at all. A valid import is one
transaction of upserts that leave unchanged rows untouched, so re-importing the same files is a no-op,
and every inserted or updated row gets one audit_log entry with its before and after values.

The importer only adds and updates; it never deletes rows that are missing from the files (people who
left are marked with ``termination_date``, which the review cycle needs for proration).

The work is done by ``services.imports`` (a reader per source, one validation step, one writer); this module
keeps the entry point the CLI and the demo call, for the project's own three files.
"""

from __future__ import annotations

from pathlib import Path

from services.imports import project_csv
from services.imports.issues import MAX_ISSUES, ImportFailed, ImportIssue, Issues
from services.imports.pipeline import plan_records, write_records
from services.imports.preview import ImportPreview, build_preview
from services.imports.project_csv import ACCOUNT_COLUMNS, KPI_COLUMNS, KPI_IDS, ORG_COLUMNS, ROLES
from services.imports.writer import ImportSummary, TableCounts

__all__ = [
    "ACCOUNT_COLUMNS",
    "KPI_COLUMNS",
    "KPI_IDS",
    "MAX_ISSUES",
    "ORG_COLUMNS",
    "ROLES",
    "ImportFailed",
    "ImportIssue",
    "ImportPreview",
    "ImportSummary",
    "TableCounts",
    "import_files",
    "preview_files",
]


def import_files(database_url: str, org: Path, accounts: Path, kpis: Path, actor: str = "hr",
                 expect: str | None = None) -> ImportSummary:
    """Validate the three files completely, then write them in one transaction (or raise ImportFailed).

    Checks that need the database (managers, KAMs and employees that already exist) run inside the
    same transaction as the writes, under an advisory lock, so two imports cannot interleave. ``expect``: the
    digest of the preview that was confirmed (see ``services.imports.pipeline.write_records``).
    """
    org, accounts, kpis = Path(org), Path(accounts), Path(kpis)
    issues = Issues([org.name, accounts.name, kpis.name])
    records = project_csv.read(org, accounts, kpis, issues)
    return write_records(database_url, records, issues, actor, expect=expect)


def preview_files(database_url: str, org: Path, accounts: Path, kpis: Path, examples: int = 5) -> ImportPreview:
    """What ``import_files`` would change (new / changed / unchanged per table, with examples); writes nothing."""
    org, accounts, kpis = Path(org), Path(accounts), Path(kpis)
    issues = Issues([org.name, accounts.name, kpis.name])
    records = project_csv.read(org, accounts, kpis, issues)
    plans = plan_records(database_url, records, issues)
    return build_preview("csv", [org.name, accounts.name, kpis.name], plans, records, examples)
