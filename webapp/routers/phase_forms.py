"""The one place a phase's form is found: ``/tasks/{cycle}/{phase}/{employee}``.

A phase with a page of its own (its definition's ``form``: the self-review, the score, the survey, peer feedback)
is sent there; a phase defined only in the registry (domain/phases.py) gets the generic form of its definition: a
rating per question on its scale and an optional comment each, submitted through the review workflow's
``submit_task`` (services.tasks.submit_task). Who may submit is the workflow's check, by the definition's assignees;
this page shows the reader's own task, or says they have none.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from domain.phases import PHASE_BY_KEY
from domain.text import Text, tr
from services import tasks as svc
from services.errors import NotFound, UserError
from services.users import SessionUser
from webapp.auth import page_user
from webapp.context import AppContext, get_ctx
from webapp.errors import from_user_error
from webapp.pages import redirect, render, say
from webapp.schemas import CycleIdPath, EmployeeIdPath, PhasePath
from workflows.payloads import TaskSubmission

api = APIRouter()
pages = APIRouter(include_in_schema=False)
ASSIGNEES = ("employee", "manager", "hr")  # whoever a phase's tasks go to: a KAM, a reviewer, a colleague


def _path(cycle_id: str, phase: str, employee_id: str) -> str:
    return f"/tasks/{cycle_id}/{phase}/{employee_id}"


async def _page(request: Request, user: SessionUser, ctx: AppContext, cycle_id: str, phase: str, employee_id: str,
                status: int = 200, error: Text | str | None = None,
                entered: TaskSubmission | None = None) -> Response:
    """The form, with what the reader entered kept after a refusal (the error is shown above it by the layout)."""
    try:
        form = await svc.phase_form(ctx.pool, cycle_id, phase, employee_id, user.employee_id or user.username)
    except UserError as err:
        raise from_user_error(err) from None
    return render(request, "phase_form.html", user, status, tz=form.timezone, form=form, cycle_id=cycle_id,
                  employee_id=employee_id, error=say(request, user, error) if error else None,
                  entered=entered or TaskSubmission(phase, "", {}, {}))


@pages.get("/tasks/{cycle_id}/{phase}/{employee_id}")
async def phase_form_page(request: Request, cycle_id: CycleIdPath, phase: PhasePath, employee_id: EmployeeIdPath,
                          user: SessionUser = Depends(page_user(*ASSIGNEES)),
                          ctx: AppContext = Depends(get_ctx)) -> Response:
    definition = PHASE_BY_KEY.get(phase)
    if definition is None:
        raise from_user_error(NotFound(tr("there is no phase %(phase)s to submit", phase=repr(phase))))
    if definition.form:  # a page of its own
        return redirect(definition.task_link(cycle_id, employee_id))
    return await _page(request, user, ctx, cycle_id, phase, employee_id)


@pages.post("/tasks/{cycle_id}/{phase}/{employee_id}")
async def phase_submit_page(request: Request, cycle_id: CycleIdPath, phase: PhasePath, employee_id: EmployeeIdPath,
                            user: SessionUser = Depends(page_user(*ASSIGNEES)),
                            ctx: AppContext = Depends(get_ctx)) -> Response:
    form = await request.form()
    ratings: dict[str, int] = {}
    comments: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            continue
        if key.startswith("q:") and value.strip().lstrip("-").isdigit():
            ratings[key[2:]] = int(value.strip())
        elif key.startswith("c:") and value.strip():
            comments[key[2:]] = value.strip()
    sub = TaskSubmission(phase, user.employee_id or user.username, ratings, comments)
    try:
        await svc.submit_task(ctx.client, ctx.pool, cycle_id, employee_id, sub)
    except UserError as err:
        web = from_user_error(err)
        if web.status in (403, 404):
            raise web from None
        return await _page(request, user, ctx, cycle_id, phase, employee_id, web.status, web.message, sub)
    return redirect(_path(cycle_id, phase, employee_id), say(request, user, tr("thank you: your answers are in")))
