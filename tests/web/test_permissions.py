"""Every endpoint × every role (HR, manager, employee, payroll) and no sign-in: allowed or refused.

The table is checked against the app's own route list, so an endpoint added without an entry here
fails this test. "Allowed" means the request passed the permission check (any answer but 401/403,
and never a 5xx); "refused" means 403 for a signed-in user, and for nobody signed in 401 (API) or a
redirect to the sign-in page (pages).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from services.cycles import create_cycle
from tests.helpers import cycle_config, ratings
from tests.web.calibration_world import calibration_cycle
from tests.web.helpers import config_yaml, password_of
from webapp.app import endpoints

PERSONAS = {"hr": "HR1", "manager": "M1", "employee": "K01", "payroll": "PAY1"}
ROLES = frozenset(PERSONAS)
EVERYONE = ROLES | {"anon"}


@dataclass
class Case:
    allowed: frozenset[str]
    cycle: str = "A"  # A: open (reviews phase); B: locked, results released, approved lines; C: in calibration
    json: Any = None
    form: dict[str, str] | None = None
    fresh_session: bool = False  # the call replaces or ends the session (sign-in, sign-out): use a throwaway one
    own_only: bool = False  # also refused for a manager who is not the reviewer (M2)
    hidden: bool = False  # that manager gets 404, as for a participant that does not exist (existence does not leak)


def api(*roles: str, **kw: Any) -> Case:
    return Case(frozenset(roles), **kw)


SCORE = {"ratings": ratings(2)}
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()  # the cycles' zone (results released today)
GOAL_KR = {"metric": "Revenue", "unit": "CNY", "start_value": "0", "target_value": "100", "due_date": "2026-09-30"}
TABLE: dict[str, Case] = {
    # public: documentation, health, sign-in, the survey (the link is the credential)
    "GET /openapi.json": api(*EVERYONE), "GET /docs": api(*EVERYONE), "GET /docs/oauth2-redirect": api(*EVERYONE),
    "GET /redoc": api(*EVERYONE), "GET /api/health": api(*EVERYONE), "GET /api/ready": api(*EVERYONE), "GET /api-docs": api(*EVERYONE),
    "GET /metrics": api(*EVERYONE),  # for Prometheus in the network; KAMREVIEW_WEB_METRICS_TOKEN: test_metrics.py
    "GET /": api(*EVERYONE), "GET /login": api(*EVERYONE),
    "GET /language/{code}": api(*EVERYONE),
    "GET /settings": api(*ROLES), "POST /settings": api(*ROLES, form={"locale": "", "timezone": ""}),
    "GET /api/me/preferences": api(*ROLES), "PUT /api/me/preferences": api(*ROLES, json={"locale": None, "timezone": None}),
    "POST /login": api(*EVERYONE, fresh_session=True),
    "POST /api/session": api(*EVERYONE, fresh_session=True),
    "POST /api/survey/open": api(*EVERYONE, json={"token": "T" * 43}),
    "POST /api/survey/answer": api(*EVERYONE, json={"token": "T" * 43, "satisfaction": 5}),
    "GET /survey": api(*EVERYONE), "POST /survey": api(*EVERYONE, form={"token": "T" * 43}),
    "POST /survey/answer": api(*EVERYONE, form={"token": "T" * 43, "satisfaction": "5"}),
    # public: a forgotten password (the same answer for any address) and set-password links (the link is the credential)
    "POST /api/password/forgot": api(*EVERYONE, json={"login": "nobody@example.com"}),
    "POST /api/password/open": api(*EVERYONE, json={"token": "T" * 43}),
    "POST /api/password": api(*EVERYONE, json={"token": "T" * 43, "password": "long-enough-pw"}),
    "GET /password/forgot": api(*EVERYONE), "POST /password/forgot": api(*EVERYONE, form={"login": "nobody2@example.com"}),
    "GET /password": api(*EVERYONE), "POST /password": api(*EVERYONE, form={"token": "T" * 43}),
    "POST /password/set": api(*EVERYONE, form={"token": "T" * 43, "password": "long-enough-pw",
                                               "password_again": "long-enough-pw"}),
    # any signed-in user
    "GET /api/session": api(*ROLES), "DELETE /api/session": api(*ROLES, fresh_session=True),
    "POST /logout": api(*ROLES, form={}, fresh_session=True),
    # employee (KAM)
    "GET /api/me/tasks": api("employee"), "GET /api/me/reviews": api("employee"),
    "GET /api/me/reviews/{cycle_id}": api("employee"),
    # drafts before the submissions below (a submitted task takes no draft): saved, read back, discarded
    "PUT /api/me/reviews/{cycle_id}/self-review/draft": api("employee", json={"ratings": {"communication": 2}}),
    "GET /api/me/reviews/{cycle_id}/self-review/draft": api("employee"),
    "DELETE /api/me/reviews/{cycle_id}/self-review/draft": api("employee"),
    "POST /api/me/reviews/{cycle_id}/self-review": api("employee", json={"ratings": ratings(2)}),
    "GET /api/me/results/{cycle_id}": api("employee", cycle="B"),
    "GET /me": api("employee"), "GET /me/reviews/{cycle_id}": api("employee"),
    "POST /me/reviews/{cycle_id}": api("employee", form={"rating.communication": "2"}),
    "GET /me/results/{cycle_id}": api("employee", cycle="B"),
    # manager (direct reports, or reviews reassigned to them)
    "GET /api/manager/inbox": api("manager"),
    "GET /api/manager/reviews/{cycle_id}/{employee_id}": api("manager", own_only=True),
    "PUT /api/manager/reviews/{cycle_id}/{employee_id}/score/draft": api("manager", json={"ratings": {}},
                                                                         own_only=True),
    "GET /api/manager/reviews/{cycle_id}/{employee_id}/score/draft": api("manager", own_only=True),
    "DELETE /api/manager/reviews/{cycle_id}/{employee_id}/score/draft": api("manager", own_only=True),
    "POST /api/manager/reviews/{cycle_id}/{employee_id}/score": api("manager", json=SCORE, own_only=True),
    "GET /manager": api("manager"),
    "GET /manager/reviews/{cycle_id}/{employee_id}": api("manager", own_only=True),
    "POST /manager/reviews/{cycle_id}/{employee_id}": api("manager", form={"rating.communication": "2"},
                                                          own_only=True),
    # goals (OKRs): the KAM's own, and their direct manager's (M2 is not K01's manager: told there are none)
    "GET /api/goals/{employee_id}": api("employee", "manager", own_only=True, hidden=True),
    "GET /api/manager/goals": api("manager"),
    "POST /api/goals/{employee_id}/objectives": api("employee", "manager", json={"period": "2026-Q3", "title": "Grow"},
                                                    own_only=True, hidden=True),
    "DELETE /api/goals/objectives/{objective_id}": api("employee", "manager", own_only=True, hidden=True),
    "POST /api/goals/objectives/{objective_id}/key-results": api("employee", "manager", json=GOAL_KR, own_only=True,
                                                                 hidden=True),
    "DELETE /api/goals/key-results/{key_result_id}": api("employee", "manager", own_only=True, hidden=True),
    "POST /api/goals/key-results/{key_result_id}/check-ins": api("employee", "manager", json={"value": 1},
                                                                 own_only=True, hidden=True),
    "POST /api/goals/{employee_id}/submit": api("employee", "manager", json={"period": "2026-Q3"}, own_only=True,
                                                hidden=True),
    "POST /api/manager/goals/{employee_id}/approve": api("manager", json={"period": "2026-Q3"}, own_only=True,
                                                         hidden=True),
    "POST /api/manager/goals/{employee_id}/return": api("manager", json={"period": "2026-Q3", "comment": "why"},
                                                        own_only=True, hidden=True),
    "GET /me/goals": api("employee"), "GET /manager/goals": api("manager"),
    "GET /manager/goals/{employee_id}": api("manager", own_only=True, hidden=True),
    "POST /goals/{employee_id}/objectives": api("employee", "manager", form={"period": "2026-Q3", "title": "Grow"},
                                                own_only=True, hidden=True),
    "POST /goals/objectives/{objective_id}/key-results": api("employee", "manager", form=GOAL_KR, own_only=True,
                                                             hidden=True),
    "POST /goals/objectives/{objective_id}/delete": api("employee", "manager", form={}, own_only=True, hidden=True),
    "POST /goals/key-results/{key_result_id}/delete": api("employee", "manager", form={}, own_only=True, hidden=True),
    "POST /goals/key-results/{key_result_id}/check-ins": api("employee", "manager", form={"value": "1"},
                                                             own_only=True, hidden=True),
    "POST /goals/{employee_id}/submit": api("employee", "manager", form={"period": "2026-Q3"}, own_only=True,
                                            hidden=True),
    "POST /manager/goals/{employee_id}/approve": api("manager", form={"period": "2026-Q3"}, own_only=True, hidden=True),
    "POST /manager/goals/{employee_id}/return": api("manager", form={"period": "2026-Q3", "comment": "why"},
                                                    own_only=True, hidden=True),
    # HR
    "GET /api/hr/cycles": api("hr"),
    "POST /api/hr/cycles": api("hr", json={"config_yaml": "placeholder"}),
    "POST /api/hr/cycles/preview": api("hr", json={"config_yaml": "placeholder"}),
    "GET /api/hr/cycles/{cycle_id}": api("hr"),
    "POST /api/hr/cycles/{cycle_id}/start": api("hr"),
    "POST /api/hr/cycles/{cycle_id}/reminders": api("hr", json={}),
    "POST /api/hr/cycles/{cycle_id}/survey-links": api("hr", json={}),
    "POST /api/hr/cycles/{cycle_id}/reassign": api("hr", json={"employee_id": "K03", "new_reviewer_id": "M2",
                                                              "reason": "matrix"}),
    "GET /api/hr/cycles/{cycle_id}/calibration": api("hr", cycle="B"),
    "POST /api/hr/cycles/{cycle_id}/calibration/adjustments": api("hr", json={"employee_id": "K01", "level": 3,
                                                                              "reason": "matrix"}),
    "POST /api/hr/cycles/{cycle_id}/calibration/finalize": api("hr"),
    "POST /api/hr/cycles/{cycle_id}/incentives/retry": api("hr"),
    "GET /api/hr/cycles/{cycle_id}/notifications": api("hr"),
    "POST /api/hr/notifications/{notification_id}/resend": api("hr"),
    "POST /api/hr/cycles/{cycle_id}/results/release": api("hr"),
    "POST /api/hr/cycles/{cycle_id}/cancel": api("hr", json={"reason": ""}),  # refused for the empty reason
    "GET /api/hr/cycles/{cycle_id}/audit": api("hr"),
    "GET /api/hr/people": api("hr"),
    "POST /api/hr/people/invite": api("hr", json={"employee_ids": ["K04"]}),  # no e-mail on file: skipped
    "POST /api/hr/people/disable": api("hr", json={"employee_ids": ["NOSUCH"]}),
    "GET /hr/people": api("hr"), "POST /hr/people": api("hr", form={"action": "invite", "employee": "K04"}),
    "GET /hr": api("hr"), "POST /hr/cycles": api("hr", form={"config_yaml": "id: ["}),
    "GET /api/hr/schedules": api("hr"),
    "POST /api/hr/schedules": api("hr", json={"template_yaml": "id: [", "cadence": "quarterly", "first": "2027-01-01"}),
    "POST /api/hr/schedules/{name}/{action}": api("hr"),  # 404: no such schedule
    "GET /hr/schedules": api("hr"),
    "POST /hr/schedules": api("hr", form={"template_yaml": "id: [", "cadence": "quarterly", "first": "2027-01-01"}),
    "POST /hr/schedules/{name}/{action}": api("hr", form={}),
    "GET /hr/cycles/{cycle_id}": api("hr"),
    "POST /hr/cycles/{cycle_id}/start": api("hr", form={}),
    "POST /hr/cycles/{cycle_id}/reminders": api("hr", form={}),
    "POST /hr/cycles/{cycle_id}/survey-links": api("hr", form={}),
    "POST /hr/cycles/{cycle_id}/reassign": api("hr", form={"employee_id": "K01", "new_reviewer_id": "M1",
                                                          "reason": "matrix"}),
    "GET /hr/cycles/{cycle_id}/calibration": api("hr", cycle="B"),
    "POST /hr/cycles/{cycle_id}/calibration/adjust": api("hr", form={"employee_id": "K01", "level": "3",
                                                                    "reason": "matrix"}),
    "GET /hr/cycles/{cycle_id}/calibration/finalize": api("hr"),
    "POST /hr/cycles/{cycle_id}/calibration/finalize": api("hr", form={}),
    # HR, and the calibration committee: a manager for their own reporting line while the cycle is in calibration
    "GET /api/hr/cycles/{cycle_id}/participants/{employee_id}": api("hr", "manager", cycle="C", own_only=True,
                                                                    hidden=True),
    "GET /hr/cycles/{cycle_id}/participants/{employee_id}": api("hr", "manager", cycle="C", own_only=True,
                                                                hidden=True),
    "POST /hr/cycles/{cycle_id}/incentives/retry": api("hr", form={}),
    "POST /hr/cycles/{cycle_id}/notifications/{notification_id}/resend": api("hr", form={}),
    "POST /hr/cycles/{cycle_id}/results/release": api("hr", form={}),
    "GET /hr/cycles/{cycle_id}/results/release": api("hr"),
    "GET /hr/cycles/{cycle_id}/cancel": api("hr"), "POST /hr/cycles/{cycle_id}/cancel": api("hr", form={}),
    "GET /hr/cycles/{cycle_id}/audit": api("hr"), "GET /hr/cycles/{cycle_id}/audit.csv": api("hr"),
    "GET /hr/imports": api("hr"), "POST /hr/imports": api("hr", form={"source": "zoho"}),  # refused: no file
    "POST /hr/imports/{upload_id}/apply": api("hr", form={"expect": "x"}),  # 404: no such upload
    # payroll approves payouts (HR is refused unless KAMREVIEW_HR_MAY_APPROVE_PAYOUTS: test_payroll_approval.py)
    "GET /api/payroll/cycles/{cycle_id}/approval": api("payroll"),
    "POST /api/payroll/cycles/{cycle_id}/approve": api("payroll"),
    "GET /payroll/cycles/{cycle_id}/approval": api("payroll"),
    "POST /payroll/cycles/{cycle_id}/approve": api("payroll", form={}),
    # payroll statements (approved lines only)
    "GET /api/payroll/statements": api("payroll"),
    "GET /api/payroll/statements/{cycle_id}": api("payroll", cycle="B"),
    "GET /api/payroll/statements/{cycle_id}/csv": api("payroll", cycle="B"),
    "GET /api/payroll/statements/{cycle_id}/ledger": api("payroll", cycle="B"),
    "GET /api/payroll/statements/{cycle_id}/ledger/csv": api("payroll", cycle="B"),
    "GET /payroll": api("payroll"), "GET /payroll/statements/{cycle_id}": api("payroll", cycle="B"),
    # trends: a KAM themself, a manager their direct reports and own team (another manager: 404), HR everyone
    "GET /api/trends/employees/{employee_id}": api("hr", "manager", "employee", own_only=True, hidden=True),
    "GET /api/trends/teams/{manager_id}": api("hr", "manager", own_only=True, hidden=True),
    "GET /api/trends/drift": api("hr"),
    "GET /trends/employees/{employee_id}": api("hr", "manager", "employee", own_only=True, hidden=True),
    "GET /trends/teams/{manager_id}": api("hr", "manager", own_only=True, hidden=True),
    "GET /trends": api("hr"),
    # reopen (HR) and sign-off after release: the reviewer records the conversation (M2 is not K01's), the KAM answers
    "POST /api/hr/cycles/{cycle_id}/participants/{employee_id}/reopen": api(
        "hr", json={"task": "self_review", "reason": "typo"}),  # 409: nothing submitted yet
    "POST /hr/cycles/{cycle_id}/participants/{employee_id}/reopen": api(
        "hr", form={"task": "self_review", "reason": "typo"}),
    "GET /api/hr/cycles/{cycle_id}/sign-off": api("hr", cycle="B"),
    "GET /hr/cycles/{cycle_id}/sign-off": api("hr", cycle="B"),
    "POST /api/manager/results/{cycle_id}/{employee_id}/conversation": api(
        "manager", cycle="B", json={"held_on": TODAY}, own_only=True),
    "GET /manager/results/{cycle_id}": api("manager", cycle="B"),
    "POST /manager/results/{cycle_id}/{employee_id}/conversation": api(
        "manager", cycle="B", form={"held_on": TODAY}, own_only=True),
    "GET /api/me/results/{cycle_id}/sign-off": api("employee", cycle="B"),
    "POST /api/me/results/{cycle_id}/sign-off": api("employee", cycle="B", json={"response": "acknowledged"}),
    "POST /me/results/{cycle_id}/sign-off": api("employee", cycle="B", form={"response": "acknowledged"}),
    # peer feedback: the KAM nominates, the reviewer approves (M2 is not K01's), any colleague answers when asked;
    # the aggregate for the KAM, their reviewer and HR (the cycles here have no peer feedback: refused as 422)
    "GET /api/peers/{cycle_id}/{employee_id}": api("hr", "manager", "employee", own_only=True),
    "GET /me/peers/{cycle_id}": api("employee"),
    "POST /me/peers/{cycle_id}": api("employee", form={"peer": "K02,K03,HR1"}),
    "GET /manager/peers/{cycle_id}/{employee_id}": api("manager", own_only=True),
    "POST /manager/peers/{cycle_id}/{employee_id}": api("manager", form={"peer": "K02"}, own_only=True),
    "GET /me/peer-feedback/{cycle_id}/{employee_id}": api("hr", "manager", "employee"),
    "POST /me/peer-feedback/{cycle_id}/{employee_id}": api("hr", "manager", "employee", form={"q:collaboration": "4"}),
    # a phase's form (webapp/routers/phase_forms.py): a shipped phase redirects to its own page; the generic form of a
    # phase defined only in the registry is tests/web/test_phase_form.py's
    "GET /tasks/{cycle_id}/{phase}/{employee_id}": api("hr", "manager", "employee"),
    "POST /tasks/{cycle_id}/{phase}/{employee_id}": api("hr", "manager", "employee", form={"q:clarity": "3"}),
}


async def released_cycle(db_url: str, cycle_id: str) -> None:
    """A cycle as it looks after lock and release, written directly (its workflows are not the subject here)."""
    await create_cycle(db_url, cycle_config(cycle_id))
    with psycopg.connect(db_url) as conn:
        conn.execute("""UPDATE review_cycle SET status = 'locked', started_at = now(), locked_at = now(),
                               results_released_at = now(), results_released_by = 'HR1' WHERE id = %s""", (cycle_id,))
        conn.execute("""UPDATE review SET status = 'closed', preliminary_score = 3.1,
                               score_breakdown = '{"lines": [], "csat": null}' WHERE cycle_id = %s""", (cycle_id,))
        conn.execute("""INSERT INTO calibrated_rating (review_id, cycle_id, employee_id, manager_id, preliminary_score,
                               final_level, finalized)
                        SELECT id, cycle_id, employee_id, reviewer_id, 3.1, 3, true FROM review WHERE cycle_id = %s""",
                     (cycle_id,))
        conn.execute("""INSERT INTO payout_line (idempotency_key, cycle_id, employee_id, line_type, amount, currency,
                               period, plan_id, plan_version, revision, explanation, status)
                        SELECT cycle_id || ':' || employee_id || ':bonus', cycle_id, employee_id, 'bonus', 1234.5, 'CNY',
                               '2026-Q3', 'kam-incentive-2026', 1, 0, 'matrix', 'computed'
                        FROM review WHERE cycle_id = %s""", (cycle_id,))
        # Lines are written computed and locked by approval, as lock_payouts does: never inserted locked.
        conn.execute("""UPDATE payout_line SET status = 'locked', approved_by = 'HR1', locked_at = now()
                        WHERE cycle_id = %s""", (cycle_id,))


@dataclass
class World:
    web: Any
    cycles: dict[str, str]
    clients: dict[str, Any] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)


async def persona(world: World, name: str) -> tuple[Any, str | None]:
    if name == "anon":
        return world.web.anon(), None
    http = await world.web.login(PERSONAS.get(name, name))
    return http, http.headers["X-CSRF-Token"]


async def call(world: World, key: str, case: Case, who: str, http: Any, csrf: str | None, employee: str = "K01"):
    method, path = key.split(" ", 1)
    url = (path.replace("{cycle_id}", world.cycles[case.cycle]).replace("{employee_id}", employee)
           .replace("{notification_id}", "no-such-message").replace("{name}", "no-such-schedule")
           .replace("{action}", "pause").replace("{upload_id}", "0" * 32)
           .replace("{objective_id}", "999999").replace("{key_result_id}", "999999").replace("{manager_id}", "M1")
           .replace("{phase}", "self_review"))
    kwargs: dict[str, Any] = {}
    if key in ("POST /api/session",):
        user = PERSONAS.get(who, "K01")
        kwargs["json"] = {"username": user, "password": password_of(user)}
    elif key == "POST /login":
        page = await http.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
        user = PERSONAS.get(who, "K01")
        kwargs["data"] = {"username": user, "password": password_of(user), "login_csrf": token}
    elif key == "POST /api/hr/cycles":
        kwargs["json"] = {"config_yaml": config_yaml(f"MX{uuid.uuid4().hex[:8]}")}
    elif case.form is not None:
        kwargs["data"] = {**case.form, **({"csrf_token": csrf} if csrf else {})}
    elif case.json is not None:
        kwargs["json"] = case.json
    return await http.request(method, url, **kwargs)


def verdict(key: str, who: str, response: Any, allowed: bool, refused_as: int = 403) -> str | None:
    """None when the answer is right; otherwise what is wrong."""
    status, path = response.status_code, key.split(" ", 1)[1]
    if status >= 500:
        return f"{key} as {who}: server error {status}"
    is_api = path.startswith("/api/")
    if allowed:
        location = response.headers.get("location", "")
        to_login = status == 303 and location.startswith("/login") and key not in ("POST /logout", "GET /")
        if status in (401, 403) or to_login:
            return f"{key} as {who}: refused ({status} {location}) but should be allowed"
        # these answer with where to go next (a shipped phase's form is its own page)
        redirects = ("GET /", "GET /language/{code}", "GET /tasks/{cycle_id}/{phase}/{employee_id}")
        if key.startswith("GET ") and key not in redirects and status != 200:  # every read works in this world
            return f"{key} as {who}: {status}, expected 200"
        return None
    if who == "anon":
        ok = status == 401 if is_api else (status == 303 and response.headers["location"].startswith("/login"))
    else:
        ok = status == refused_as
    return None if ok else f"{key} as {who}: {status}, expected to be refused"


async def test_every_endpoint_for_every_role(web):
    routes = {f"{m} {p}" for m, p in endpoints(web.app)}
    assert routes == set(TABLE), (
        f"endpoints without a permission entry: {sorted(routes - set(TABLE))}; "
        f"entries without an endpoint: {sorted(set(TABLE) - routes)}")
    a = await web.open_cycle()
    b = f"MXB{uuid.uuid4().hex[:8]}"
    await released_cycle(web.db_url, b)
    c = await calibration_cycle(web.db_url, f"MXC{uuid.uuid4().hex[:8]}")
    world = World(web, {"A": a, "B": b, "C": c})
    for who in ["anon", *PERSONAS, "M2"]:
        world.clients[who], world.csrf[who] = await persona(world, who)
    problems: list[str] = []
    checked = 0
    # Refusals first: they must change nothing, so the allowed calls below still find the world intact.
    for key, case in TABLE.items():
        for who in ["anon", *PERSONAS]:
            if who in case.allowed:
                continue
            r = await call(world, key, case, who, world.clients[who], world.csrf[who])
            problems.append(verdict(key, who, r, allowed=False))
            checked += 1
        if case.own_only:  # a manager, but not this review's reviewer
            r = await call(world, key, case, "M2", world.clients["M2"], world.csrf["M2"])
            problems.append(verdict(key, "M2 (not the reviewer)", r, allowed=False, refused_as=404 if case.hidden else 403))
            checked += 1
    for key, case in TABLE.items():
        for who in sorted(case.allowed):
            http, csrf = world.clients[who], world.csrf[who]
            if case.fresh_session and who != "anon":
                http, csrf = await persona(world, who)
            r = await call(world, key, case, who, http, csrf)
            problems.append(verdict(key, who, r, allowed=True))
            checked += 1
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)
    assert checked >= len(TABLE) * 5
