"""Import files uploaded in the web app, kept until HR confirms their preview.

The preview and the write must see the same files, so the upload is stored server-side under the data directory,
content-addressed: its id is a digest of the source, every file's name and bytes, and the mapping file. The same
upload again is the same folder; a stored upload can never change under its id; the confirm button names it. The
write also carries the preview's plan digest (``services.imports.pipeline.write_records``), so a database that
changed in between is refused rather than written differently. A second confirmation (a double click, a retry)
finds nothing left to write: the import is idempotent, and says "nothing changed".

Uploads are files, not rows: they are transient (a day), may be megabytes, and the readers take paths. Several web
processes on one host share the data directory; on several hosts, point ``KAMREVIEW_WEB_UPLOAD_DIR`` at a shared one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from domain.text import tr
from services.errors import NotFound, Rejected
from services.importer import import_files, preview_files
from services.imports.crm import apply_crm_import, preview_crm_import
from services.imports.hr_export import apply_hr_import, preview_hr_import
from services.imports.preview import ImportPreview
from services.imports.writer import ImportSummary

UploadSource = Literal["csv", "zoho", "fxiaoke", "hr"]
UPLOAD_SOURCES: tuple[UploadSource, ...] = ("csv", "zoho", "fxiaoke", "hr")
MAX_FILES = 12
KEEP_SECONDS = 24 * 3600
_ID = re.compile(r"[0-9a-f]{32}")
_UNSAFE = re.compile(r"[^\w.\- ()\u4e00-\u9fff]+")
# The project's three files, told apart by a column only that file has (their names vary: org.csv, ORG.csv, ...).
PROJECT_FILES = (("org", "role", "ORG.csv", "employee_id,name,role\n"),
                 ("accounts", "account_id", "ACCOUNTS.csv", "account_id,account_name,kam_id,annual_revenue\n"),
                 ("kpis", "kpi_id", "KPIS.csv", "employee_id,period,kpi_id,value\n"))


@dataclass(frozen=True)
class Upload:
    """A stored upload: where its files are, in the order given, and the optional mapping file."""

    id: str
    source: UploadSource
    files: list[Path]
    mapping: Path | None

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.files]


def safe_name(name: str, taken: set[str]) -> str:
    """The file's own name (problems cite it) without folders or odd characters, unique within the upload."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip(" .")[:100] or "file"
    candidate, n = base, 1
    while candidate.casefold() in taken:
        n += 1
        stem, dot, ext = base.rpartition(".")
        candidate = f"{stem}-{n}.{ext}" if dot else f"{base}-{n}"
    taken.add(candidate.casefold())
    return candidate


class UploadStore:
    """Uploads under ``root``, one folder per upload id; folders older than a day are removed on the next save."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, source: str, files: Sequence[tuple[str, bytes]], mapping: tuple[str, bytes] | None = None) -> Upload:
        if source not in UPLOAD_SOURCES:
            raise Rejected(tr("unknown source '%(source)s' (expected one of: %(allowed)s)", source=source,
                              allowed=", ".join(UPLOAD_SOURCES)))
        files = [(name, data) for name, data in files if name or data]
        if not files:
            raise Rejected(tr("choose at least one file to import"))
        if len(files) > MAX_FILES:
            raise Rejected(tr("at most %(max)s files at a time (%(n)s were chosen)", max=str(MAX_FILES),
                              n=str(len(files))))
        if mapping is not None and source == "csv":
            raise Rejected(tr("a mapping file is for CRM exports (Zoho, Fxiaoke); the project's CSV files have none"))
        if source == "hr" and len(files) > 1:
            raise Rejected(tr("an HR system export is one file (the roster); %(n)s were chosen", n=str(len(files))))
        taken: set[str] = set()
        named = [(safe_name(name, taken), data) for name, data in files]
        digest = hashlib.sha256(source.encode())
        for name, data in named:
            digest.update(b"\0file\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
        if mapping is not None:
            digest.update(b"\0mapping\0" + hashlib.sha256(mapping[1]).digest())
        upload_id = digest.hexdigest()[:32]
        folder = self.root / upload_id
        if not (folder / "upload.json").exists():
            self._purge()
            staging = self.root / f".{upload_id}.{time.time_ns()}"
            (staging / "files").mkdir(parents=True)
            for name, data in named:
                (staging / "files" / name).write_bytes(data)
            if mapping is not None:
                (staging / "mapping.yaml").write_bytes(mapping[1])
            (staging / "upload.json").write_text(json.dumps(
                {"source": source, "files": [n for n, _ in named], "mapping": mapping is not None}), encoding="utf-8")
            try:
                staging.rename(folder)  # atomic: a folder with upload.json is complete
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # the same upload, saved at the same moment
        return self.load(upload_id)

    def load(self, upload_id: str) -> Upload:
        folder = self.root / upload_id if _ID.fullmatch(upload_id or "") else None
        if folder is None or not (folder / "upload.json").is_file():
            raise NotFound(tr("this upload is no longer here (uploads are kept for a day); upload the files again"))
        meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
        folder.touch()  # in use: keep it another day
        return Upload(upload_id, meta["source"], [folder / "files" / n for n in meta["files"]],
                      folder / "mapping.yaml" if meta.get("mapping") else None)

    def _purge(self) -> None:
        if not self.root.is_dir():
            return
        cutoff = time.time() - KEEP_SECONDS
        for folder in self.root.iterdir():
            try:
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue


def _project_files(upload: Upload) -> tuple[Path, Path, Path]:
    """ORG, ACCOUNTS and KPIS among the uploaded files, by their header; a file not uploaded is an empty one, so HR
    can import the KPI actuals alone (the importer only adds and updates)."""
    found: dict[str, Path] = {}
    for path in upload.files:
        head = path.read_bytes()[:4096].decode("utf-8-sig", "replace").splitlines()
        columns = {c.strip().strip('"').lower() for c in (head[0] if head else "").split(",")}
        kind = next((k for k, column, _, _ in PROJECT_FILES if column in columns), None)
        if kind is None:
            raise Rejected(tr("%(file)s: not one of the project's CSV files (ORG.csv has a role column, ACCOUNTS.csv "
                              "account_id, KPIS.csv kpi_id; see docs/import-formats.md)", file=path.name))
        if kind in found:
            raise Rejected(tr("%(file)s and %(other)s are both %(kind)s files; upload one of each at most",
                              file=found[kind].name, other=path.name, kind=kind.upper()))
        found[kind] = path
    empty = upload.files[0].parent.parent / "empty"
    for kind, _, name, header in PROJECT_FILES:
        if kind not in found:
            empty.mkdir(exist_ok=True)
            found[kind] = empty / name
            found[kind].write_text(header, encoding="utf-8")
    return found["org"], found["accounts"], found["kpis"]


def _preview(database_url: str, upload: Upload) -> ImportPreview:
    if upload.source == "hr":
        return preview_hr_import(database_url, upload.files[0], upload.mapping)
    if upload.source == "csv":
        return preview_files(database_url, *_project_files(upload))
    return preview_crm_import(database_url, upload.source, upload.files, upload.mapping)


def _apply(database_url: str, upload: Upload, expect: str, actor: str) -> ImportSummary:
    if upload.source == "hr":
        return apply_hr_import(database_url, upload.files[0], upload.mapping, actor=actor, expect=expect)
    if upload.source == "csv":
        return import_files(database_url, *_project_files(upload), actor=actor, expect=expect)
    return apply_crm_import(database_url, upload.source, upload.files, upload.mapping, actor=actor, expect=expect)


async def preview_upload(database_url: str, upload: Upload) -> ImportPreview:
    """What importing the upload would change (ImportFailed with every problem, or Rejected); writes nothing."""
    return await asyncio.to_thread(_preview, database_url, upload)


async def apply_upload(database_url: str, upload: Upload, expect: str, actor: str) -> ImportSummary:
    """Write the upload as previewed (``expect`` is the preview's digest); Conflict if the database changed since."""
    return await asyncio.to_thread(_apply, database_url, upload, expect, actor)
