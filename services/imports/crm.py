"""The CRM imports the CLI and the web app call: Zoho CRM export files or Fxiaoke workbooks, with an optional
mapping file; a preview that writes nothing, and the write that applies the same thing in one transaction.

The CRM holds key accounts, contacts, deals/orders and cases, not the org: the owners it names must already be
employees (import the org first); each account's owner becomes its KAM (see services.imports.mapping).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from domain.text import tr
from services.errors import Rejected
from services.imports.crm_common import CrmReader
from services.imports.fxiaoke import FxiaokeReader
from services.imports.http_source import PullResult
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


# -- pulls through a CRM's API: the same validation, preview and write as its export files -------------------

Puller = Callable[[CrmMapping, Any], Awaitable[PullResult]]


def _puller(source: str) -> tuple[Puller, Any]:
    """The source's pull function and its settings (one module per source, its settings group)."""
    from services.settings import get_settings

    if _known(source) == "zoho":
        from services.imports.zoho_api import pull_records

        return pull_records, get_settings().zoho
    if _known(source) == "fxiaoke":
        from services.imports.fxiaoke_api import pull_records as pull_fxiaoke_records

        return pull_fxiaoke_records, get_settings().fxiaoke
    raise Rejected(tr("pulling from %(source)s through its API is not available yet; import its export files "
                      "with `kamreview crm import`", source=source))


async def pull_crm(source: Source, mapping: Path | CrmMapping | None = None, settings: Any = None,
                   **options: Any) -> tuple[CrmMapping, PullResult]:
    """Read everything the CRM's API gives into a RecordSet (nothing is validated or written yet)."""
    config = mapping if isinstance(mapping, CrmMapping) else load_mapping(_known(source), mapping)
    pull, configured = _puller(source)
    return config, await pull(config, settings if settings is not None else configured, **options)


async def preview_crm_pull(database_url: str, source: Source, mapping: Path | CrmMapping | None = None, examples: int = 5,
                           settings: Any = None, **options: Any) -> ImportPreview:
    """Pull from the CRM's API and say what importing it would change; writes nothing (as preview_crm_import)."""
    config, pulled = await pull_crm(source, mapping, settings, **options)
    plans = await asyncio.to_thread(plan_records, database_url, pulled.records, pulled.issues, _owner_rule(config))
    preview = build_preview(source, pulled.names, plans, pulled.records, examples)
    preview.notes[:0] = pulled.notes
    return preview


async def apply_crm_pull(database_url: str, source: Source, mapping: Path | CrmMapping | None = None, actor: str = "hr",
                         settings: Any = None, **options: Any) -> ImportSummary:
    """Pull from the CRM's API, then validate and write in one transaction (as apply_crm_import). The pull
    finishes before the transaction starts, so a failed pull (outage, credit budget) writes nothing."""
    config, pulled = await pull_crm(source, mapping, settings, **options)
    return await asyncio.to_thread(write_records, database_url, pulled.records, pulled.issues, actor,
                                   _owner_rule(config))
