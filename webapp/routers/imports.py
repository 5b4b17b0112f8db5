"""HR uploads import files (the project's CSV files, Zoho CRM exports, Fxiaoke workbooks), sees what they would
change, and only a confirm button writes it.

The upload is stored server-side, content-addressed (services.import_uploads); the confirm button names it and
carries the preview's plan digest, so the write is exactly what the page showed, or is refused when the database
changed in between. Confirming twice (a double click, a retry) writes once: the second finds nothing to write.
Every problem in the files (file:line:column) is listed on the page in the reader's language; nothing is written.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from domain.text import Text, tr
from services.errors import Conflict, Rejected, UserError, message_of
from services.import_uploads import UPLOAD_SOURCES, Upload, apply_upload, preview_upload
from services.imports.issues import ImportFailed
from services.imports.preview import ImportPreview
from services.imports.writer import ImportSummary
from services.users import SessionUser
from webapp.auth import page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import from_user_error
from webapp.pages import form_text, redirect, render, say

api = APIRouter(prefix="/api/hr", tags=["hr"])  # no JSON endpoint: programs import with the CLI
pages = APIRouter(include_in_schema=False)
HR_PAGE = page_user("hr")
UPLOAD_PATH = "/hr/imports"


def _problems(request: Request, user: SessionUser, err: UserError) -> tuple[list[str], int]:
    """Each problem of a rejected import as a line in the reader's language, and the status to answer with."""
    if isinstance(err, ImportFailed):
        lines = [say(request, user, issue.as_text()) for issue in err.issues]
        if err.omitted:
            lines.append(say(request, user, tr("... and %(count)s more issues not shown", count=str(err.omitted))))
        return lines, 422
    web = from_user_error(err)
    return [say(request, user, web.message)], web.status


async def _page(request: Request, user: SessionUser, ctx: AppContext, status: int = 200, *, source: str = "zoho",
                upload: Upload | None = None, preview: ImportPreview | None = None, problems: list[str] | None = None,
                error: Text | str | None = None) -> Response:
    org_lines: list[str] = []
    if preview is not None and preview.org:  # joiners, leavers, moves: what they will do to the running cycles
        from services.org_changes import describe

        org_lines = [say(request, user, line) for line in (await describe(ctx.pool, preview.org)).lines()]
    return render(request, "hr_imports.html", user, status, source=source, sources=UPLOAD_SOURCES, upload=upload,
                  org_lines=org_lines,
                  preview=preview, lines=[say(request, user, line) for line in preview.lines()] if preview else [],
                  problems=problems or [], error=say(request, user, error) if error else None,
                  max_file_mb=ctx.settings.max_upload_file_bytes / 1024 / 1024,
                  max_upload_mb=ctx.settings.max_upload_bytes / 1024 / 1024)


@pages.get(UPLOAD_PATH)
async def imports_page(request: Request, user: SessionUser = Depends(HR_PAGE),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _page(request, user, ctx)


async def _read(file: UploadFile, limit: int) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        megabytes = f"{limit / 1024 / 1024:g}"
        raise Rejected(tr("%(file)s is larger than %(max)s MB; split the export or import it with the command line "
                          "(kamreview crm import)", file=file.filename or "?", max=megabytes))
    return data


@pages.post(UPLOAD_PATH)
async def upload_page(request: Request, user: SessionUser = Depends(HR_PAGE),
                      ctx: AppContext = Depends(get_ctx)) -> Response:
    """Store the files and show their preview, with the confirm button when they would change something."""
    form = await request.form()
    source = form_text(form, "source") or ""
    shown = source if source in UPLOAD_SOURCES else "zoho"
    limit = ctx.settings.max_upload_file_bytes
    try:
        files = [(f.filename or "", await _read(f, limit)) for f in form.getlist("files") if isinstance(f, UploadFile)]
        given = form.get("mapping")
        mapping = (given.filename or "mapping.yaml", await _read(given, limit)) \
            if isinstance(given, UploadFile) and given.filename else None
        upload = ctx.uploads.save(source, files, mapping)
        preview = await preview_upload(ctx.database_url, upload)
    except UserError as err:
        problems, status = _problems(request, user, err)
        return await _page(request, user, ctx, status, source=shown, problems=problems)
    return await _page(request, user, ctx, source=shown, upload=upload, preview=preview)


@pages.post(UPLOAD_PATH + "/{upload_id}/apply")
async def apply_page(request: Request, upload_id: str, user: SessionUser = Depends(HR_PAGE),
                     ctx: AppContext = Depends(get_ctx)) -> Response:
    """Write what the preview showed; when the database changed since, show the new preview instead."""
    form = await request.form()
    expect = form_text(form, "expect") or ""
    try:
        upload = ctx.uploads.load(upload_id)
    except UserError as err:
        problems, status = _problems(request, user, err)
        return await _page(request, user, ctx, status, problems=problems)
    try:
        summary = await apply_upload(ctx.database_url, upload, expect, user.username)
    except Conflict as err:  # the database changed since the preview: show what the files would do now
        try:
            preview = await preview_upload(ctx.database_url, upload)
        except UserError as again:
            problems, status = _problems(request, user, again)
            return await _page(request, user, ctx, status, source=upload.source, problems=problems)
        return await _page(request, user, ctx, 409, source=upload.source, upload=upload, preview=preview,
                           error=message_of(err))
    except UserError as err:
        problems, status = _problems(request, user, err)
        return await _page(request, user, ctx, status, source=upload.source, problems=problems)
    names = ", ".join(upload.names)
    applied = await _apply_org_changes(ctx, user)
    recomputed = await _recompute_kpis(ctx, user, summary)
    if not summary.changed:
        said = tr("nothing changed: the database already holds what %(files)s say (imported before)", files=names)
    else:
        counts = summary.tables.values()
        said = tr("imported %(files)s: %(new)s new and %(changed)s changed rows", files=names,
                  new=str(sum(c.inserted for c in counts)), changed=str(sum(c.updated for c in counts)))
    for more in (applied, recomputed):
        if more is not None:
            said = tr("%(imported)s; %(applied)s", imported=said, applied=more)
    return redirect(UPLOAD_PATH, say(request, user, said))


async def _recompute_kpis(ctx: AppContext, user: SessionUser, summary: ImportSummary) -> Text | None:
    """Deals or cases that changed recompute the KPI figures of their periods (docs/kpis.md), as the daily sync
    does; a locked cycle's changed figure waits for `payouts recompute`, which the message names."""
    if not getattr(summary, "kpi_dates", None):
        return None
    from services.kpis import recompute_after_import

    runs = await recompute_after_import(ctx.pool, summary.kpi_dates, user.username)
    if not runs:
        return None
    locked = sorted({c for run in runs for c in run.locked_cycles})
    periods = ", ".join(run.period.label for run in runs)
    if locked:
        return tr("KPI figures of %(periods)s recomputed from the records; locked cycles whose figures changed: "
                  "%(cycles)s (recompute their payouts)", periods=periods, cycles=", ".join(locked))
    return tr("KPI figures of %(periods)s recomputed from the records", periods=periods)


async def _apply_org_changes(ctx: AppContext, user: SessionUser) -> Text | None:
    """The org changes this import wrote (or an earlier one left pending) applied to the running cycles through
    their workflows, as `kamreview import` does. Temporal unreachable: the import stays written and its changes
    wait for the next import (said so)."""
    from services.org_changes import apply_pending, has_pending

    if not await has_pending(ctx.pool):
        return None
    try:
        report = await apply_pending(ctx.client, ctx.pool, user.username)
    except Exception as err:  # noqa: BLE001 - the import is written; a Temporal outage must not turn it into a 500
        logging.getLogger(__name__).warning("org changes left pending after a web import: %s", err)
        return tr("the org changes could not reach the running cycles yet (%(error)s); the next import applies them",
                  error=message_of(err))
    return tr("%(count)s org change(s) applied to the running cycles", count=str(len(report.changes)))
