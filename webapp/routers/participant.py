"""One participant of a cycle, for HR and the calibration committee: the page and its JSON twin.

Who may see whom is decided in ``services.participant`` (HR, or a manager for their own reporting line while
the cycle is in calibration); everyone else with the manager role gets 404, as for a participant that does not
exist. Employees and payroll are refused by role.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services import peers
from services.errors import Forbidden
from services.participant import participant
from services.reopen import submission_versions
from services.users import SessionUser
from webapp.auth import api_user, page_user
from webapp.context import AppContext, get_ctx
from webapp.pages import reader, render
from webapp.schemas import CycleIdPath, EmployeeIdPath, ErrorOut, ParticipantOut

api = APIRouter(prefix="/api/hr", tags=["hr"], responses={
    401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}})
pages = APIRouter(include_in_schema=False)
COMMITTEE = ("hr", "manager")  # a manager passes the role check; the service decides which participants


@api.get("/cycles/{cycle_id}/participants/{employee_id}", response_model=ParticipantOut,
         summary="One participant: self-review, manager's scores, KPIs, survey, score lines, adjustments, audit")
async def participant_api(cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                          user: SessionUser = Depends(api_user(*COMMITTEE)),
                          ctx: AppContext = Depends(get_ctx)) -> ParticipantOut:
    async with ctx.pool.connection() as conn:
        view = await participant(conn, cycle_id, employee_id, user)
    return ParticipantOut.model_validate(view, from_attributes=True)


@pages.get("/hr/cycles/{cycle_id}/participants/{employee_id}")
async def participant_page(request: Request, cycle_id: CycleIdPath, employee_id: EmployeeIdPath,
                           user: SessionUser = Depends(page_user(*COMMITTEE)),
                           ctx: AppContext = Depends(get_ctx)) -> Response:
    async with ctx.pool.connection() as conn:
        view = await participant(conn, cycle_id, employee_id, user)
    return render(request, "hr_participant.html", user, tz=view.timezone, p=view,
                  is_hr="hr" in user.roles, versions=await submission_versions(ctx.pool, cycle_id, employee_id),
                  peer=await peer_for(request, ctx, user, cycle_id, employee_id))


async def peer_for(request: Request, ctx: AppContext, user: SessionUser, cycle_id: str,
                   employee_id: str) -> peers.PeerView | None:
    """The participant's peer feedback as this reader may see it (HR with the count); None for a committee member
    who is not the reviewer."""
    try:
        return await peers.peer_view(ctx.pool, cycle_id, employee_id, user.employee_id or user.username,
                                     hr="hr" in user.roles, locale=reader(request, user).locale)
    except Forbidden:
        return None
