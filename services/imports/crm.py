"""The CRM imports the CLI and the web app call: Zoho CRM export files or Fxiaoke workbooks, with an optional
mapping file; a preview that writes nothing, and the write that applies the same thing in one transaction.

The CRM holds key accounts, contacts, deals/orders and cases, not the org: the owners it names must already be
employees (import the org first); each account's owner becomes its KAM (see services.imports.mapping).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from domain.text import tr
from services.errors import Rejected
from services.imports.crm_common import CrmReader
from services.imports.fxiaoke import FxiaokeReader
from services.imports.issues import Issues
from services.imports.mapping import SOURCES, CrmMapping, Source, load_mapping
from services.imports.pipeline import plan_records, write_records
from services.imports.preview import ImportPreview, build_preview
from services.imports.records import RecordSet
from services.imports.validation import OwnerRule
from services.imports.writer import ImportSummary
from services.imports.zoho import ZohoReader

READERS: dict[Source, type[CrmReader]] = {"zoho": ZohoReader, "fxiaoke": FxiaokeReader}


def read_crm(source: Source, files: Sequence[Path], mapping: CrmMapping, issues: Issues) -> RecordSet:
    """The export files of ``source`` as one RecordSet (problems go to ``issues``)."""
    return READERS[_known(source)](mapping, issues).read([Path(f) for f in files])


def _known(source: str) -> Source:
    if source not in SOURCES:
        raise Rejected(tr("unknown CRM '%(source)s' (expected one of: %(allowed)s)", source=str(source),
                          allowed=", ".join(SOURCES)))
    return source  # type: ignore[return-value]


def _owner_rule(mapping: CrmMapping) -> OwnerRule:
    owner = mapping.settings.owner
    return OwnerRule(tuple(owner.match), dict(owner.owners), mapping.file or mapping.source)


def preview_crm_import(database_url: str, source: Source, files: Sequence[Path], mapping: Path | None = None,
                       examples: int = 5) -> ImportPreview:
    """Read and validate the files and say what importing them would change; writes nothing.

    Raises ImportFailed (every problem, each with file, line and column) or Rejected (an invalid mapping file).
    """
    config = load_mapping(_known(source), mapping)
    paths = [Path(f) for f in files]
    issues = Issues([p.name for p in paths])
    records = read_crm(source, paths, config, issues)
    plans = plan_records(database_url, records, issues, _owner_rule(config))
    return build_preview(source, [p.name for p in paths], plans, records, examples)


def apply_crm_import(database_url: str, source: Source, files: Sequence[Path], mapping: Path | None = None,
                     actor: str = "hr", expect: str | None = None) -> ImportSummary:
    """Read, validate and write the files in one transaction (the same checks and comparison as the preview).

    ``expect``: the digest of the preview that was confirmed (see ``pipeline.write_records``)."""
    config = load_mapping(_known(source), mapping)
    paths = [Path(f) for f in files]
    issues = Issues([p.name for p in paths])
    records = read_crm(source, paths, config, issues)
    return write_records(database_url, records, issues, actor, _owner_rule(config), expect)
