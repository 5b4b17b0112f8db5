"""Payroll's side: approved statements per cycle and period, and the CSV. Read-only, locked lines only."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.statements import statement_csv, statement_lines, statements
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.pages import render
from webapp.schemas import CycleIdPath, ErrorOut, StatementLineOut, StatementOut

api = APIRouter(prefix="/api/payroll", tags=["payroll"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
PAYROLL = api_user("payroll")


@api.get("/statements", response_model=list[StatementOut], summary="Approved statements per cycle and period")
async def list_statements(user: SessionUser = Depends(PAYROLL), ctx: AppContext = Depends(get_ctx)) -> list[StatementOut]:
    async with ctx.pool.connection() as conn:
        return [StatementOut(**vars(s)) for s in await statements(conn)]


@api.get("/statements/{cycle_id}", response_model=list[StatementLineOut], summary="The approved lines of one cycle")
async def lines(cycle_id: CycleIdPath, user: SessionUser = Depends(PAYROLL),
                ctx: AppContext = Depends(get_ctx)) -> list[StatementLineOut]:
    async with ctx.pool.connection() as conn:
        return [StatementLineOut(**vars(ln)) for ln in await statement_lines(conn, cycle_id)]


@api.get("/statements/{cycle_id}/csv", summary="The approved lines as CSV (amounts in the currency's minor unit)",
         response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def csv_download(cycle_id: CycleIdPath, user: SessionUser = Depends(PAYROLL),
                       ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        text = statement_csv(await statement_lines(conn, cycle_id))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="payroll-{cycle_id}.csv"'})


# -- pages -----------------------------------------------------------------------------------------


@pages.get("/payroll")
async def statements_page(request: Request, user: SessionUser = Depends(page_user("payroll")),
                          ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        rows = await statements(conn)
    return render(request, "payroll.html", user, statements=rows)


@pages.get("/payroll/statements/{cycle_id}")
async def statement_page(request: Request, cycle_id: CycleIdPath, user: SessionUser = Depends(page_user("payroll")),
                         ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        rows = await statement_lines(conn, cycle_id)
    return render(request, "payroll_cycle.html", user, cycle_id=cycle_id, lines=rows)
