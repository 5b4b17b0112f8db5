"""Payroll's side: approving a cycle's payouts after seeing every line, then the approved statements and the CSV.

Approval is payroll's (HR's too only where ``KAMREVIEW_HR_MAY_APPROVE_PAYOUTS`` allows it): the routes let
both roles in and ``services.payout_approval`` decides, the same rule the CLI obeys. Statements show locked
lines only.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from domain.text import tr
from services.errors import UserError
from services.payout_approval import approval_view, check_may_approve, cycles_awaiting_approval
from services.payroll import format_amount
from services.statements import LedgerRow, ledger_csv, statement_csv, statement_ledger, statement_lines, statements
from services.users import SessionUser
from webapp import actions
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import WebError, from_user_error
from webapp.pages import redirect, render, say
from webapp.schemas import (
    ApprovalOut,
    CountOut,
    CycleIdPath,
    ErrorOut,
    LedgerRowOut,
    StatementLineOut,
    StatementOut,
)
from webapp.views import approval_out

api = APIRouter(prefix="/api/payroll", tags=["payroll"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
PAYROLL = api_user("payroll")
APPROVER = api_user("payroll", "hr")  # HR only with the setting: the service refuses otherwise
APPROVER_WRITE = api_user("payroll", "hr", write=True)
APPROVER_PAGE = page_user("payroll", "hr")


async def _approval(ctx: AppContext, user: SessionUser, cycle_id: str):
    check_may_approve(user.username, user.roles)
    async with ctx.pool.connection() as conn:
        return await approval_view(conn, cycle_id)


@api.get("/cycles/{cycle_id}/approval", response_model=ApprovalOut,
         summary="What an approval approves: every line awaiting approval, totals, change against the previous cycle")
async def approval(cycle_id: CycleIdPath, user: SessionUser = Depends(APPROVER),
                   ctx: AppContext = Depends(get_ctx)) -> ApprovalOut:
    return approval_out(await _approval(ctx, user, cycle_id))


@api.post("/cycles/{cycle_id}/approve", response_model=CountOut,
          summary="Approve and lock the payout lines (payroll; a repeat gets the first answer)")
async def approve(cycle_id: CycleIdPath, user: SessionUser = Depends(APPROVER_WRITE),
                  ctx: AppContext = Depends(get_ctx)) -> CountOut:
    return CountOut(count=await actions.approve(ctx, user, cycle_id))


@api.get("/statements", response_model=list[StatementOut], summary="Approved statements per cycle and period")
async def list_statements(user: SessionUser = Depends(PAYROLL), ctx: AppContext = Depends(get_ctx)) -> list[StatementOut]:
    async with ctx.pool.connection() as conn:
        return [StatementOut(**vars(s)) for s in await statements(conn)]


@api.get("/statements/{cycle_id}", response_model=list[StatementLineOut], summary="The approved lines of one cycle")
async def lines(cycle_id: CycleIdPath, user: SessionUser = Depends(PAYROLL),
                ctx: AppContext = Depends(get_ctx)) -> list[StatementLineOut]:
    async with ctx.pool.connection() as conn:
        return [StatementLineOut(**vars(ln)) for ln in await statement_lines(conn, cycle_id)]


@api.get("/statements/{cycle_id}/csv", summary="The approved lines as CSV (UTF-8 with BOM, amounts in the minor unit)",
         response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def csv_download(cycle_id: CycleIdPath, user: SessionUser = Depends(PAYROLL),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        text = statement_csv(await statement_lines(conn, cycle_id))
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="payroll-{cycle_id}.csv"'})


def _ledger_out(row: LedgerRow) -> LedgerRowOut:
    money = {k: format_amount(getattr(row, k), row.currency)
             for k in ("earned", "drawn", "recovered", "clawed_back", "written_off", "net", "balance")}
    return LedgerRowOut(employee_id=row.employee_id, employee_name=row.employee_name, plan_year=row.plan_year,
                        currency=row.currency, **money)


async def _ledger(ctx: AppContext, cycle_id: str) -> list[LedgerRow]:
    async with ctx.pool.connection() as conn:
        await statement_lines(conn, cycle_id)  # the same refusals: no such cycle, nothing approved yet
        return await statement_ledger(conn, cycle_id)


@api.get("/statements/{cycle_id}/ledger", response_model=list[LedgerRowOut],
         summary="The balance ledger of one cycle: earned, drawn, recovered, clawed back, written off, balance")
async def ledger(cycle_id: CycleIdPath, user: SessionUser = Depends(PAYROLL),
                 ctx: AppContext = Depends(get_ctx)) -> list[LedgerRowOut]:
    return [_ledger_out(r) for r in await _ledger(ctx, cycle_id)]


@api.get("/statements/{cycle_id}/ledger/csv", summary="The balance ledger as CSV (UTF-8 with BOM, minor unit)",
         response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def ledger_csv_download(cycle_id: CycleIdPath, user: SessionUser = Depends(PAYROLL),
                              ctx: AppContext = Depends(get_ctx)) -> Response:
    text = ledger_csv(await _ledger(ctx, cycle_id))
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="ledger-{cycle_id}.csv"'})


# -- pages -----------------------------------------------------------------------------------------


@pages.get("/payroll")
async def statements_page(request: Request, user: SessionUser = Depends(page_user("payroll")),
                          ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        rows = await statements(conn)
        awaiting = await cycles_awaiting_approval(conn)
    return render(request, "payroll.html", user, statements=rows, awaiting=awaiting)


async def _approval_page(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, status: int = 200,
                         error: str | None = None) -> Response:
    view = await _approval(ctx, user, cycle_id)
    return render(request, "payroll_approval.html", user, status, tz=view.timezone, view=view, error=error)


@pages.get("/payroll/cycles/{cycle_id}/approval")
async def approval_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(APPROVER_PAGE),
                        ctx: AppContext = Depends(get_ctx)) -> Response:
    return await _approval_page(request, user, ctx, cycle_id)


@pages.post("/payroll/cycles/{cycle_id}/approve")
async def approve_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(APPROVER_PAGE),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    try:
        count = await actions.approve(ctx, user, cycle_id)
    except (WebError, UserError) as err:
        web = err if isinstance(err, WebError) else from_user_error(err)
        if web.status in (401, 403):
            raise web from None
        return await _approval_page(request, user, ctx, cycle_id, web.status, say(request, user, web.message))
    done = tr("%(count)s payout lines approved and locked for payroll", count=count)
    target = f"/payroll/statements/{cycle_id}" if "payroll" in user.roles else f"/hr/cycles/{cycle_id}"
    return redirect(target, say(request, user, done))


@pages.get("/payroll/statements/{cycle_id}")
async def statement_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("payroll")),
                         ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        rows = await statement_lines(conn, cycle_id)
        ledger_rows = await statement_ledger(conn, cycle_id)
        name = await (await conn.execute("SELECT name, timezone FROM review_cycle WHERE id = %s", (cycle_id,))).fetchone()
    return render(request, "payroll_cycle.html", user, tz=name[1] if name else None, cycle_id=cycle_id,
                  cycle_name=name[0] if name else cycle_id, lines=rows, ledger=ledger_rows)
