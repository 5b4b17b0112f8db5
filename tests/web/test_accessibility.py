"""Every page of every role through axe-core, in both languages, on a desktop and a phone.

The page list is checked against the app's own routes: a page added without an entry here fails
``test_every_page_has_an_accessibility_visit``. One browser, one cycle driven through its states
(open → calibration → released), one browser context per role reused for all its visits.

A page passes with no *serious* or *critical* axe violation and, at phone width, every button and
header link at least 44 px tall (WCAG 2.5.5 target size; axe's own rule only asks for 24 px).
Moderate and minor findings are printed (``-s``) but do not fail.

With ``KR_SHOTS=<dir>`` set, each visit also saves a full-page screenshot there
(``python -m tests.web.screenshots OUTDIR`` runs this test that way).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services import tasks
from tests.helpers import cycle_config, ratings
from tests.test_phase_registry import check_in_phase
from tests.web.helpers import open_live_cycle, password_of, settings_for_tests, wait_for, workflow_phase
from tests.web.test_browser import ARGS, CHROMIUM
from webapp.app import create_app, endpoints
from workflows.payloads import ManagerScoreSubmission, SelfReviewSubmission, TaskSubmission

pytestmark = pytest.mark.skipif(os.environ.get("KAMREVIEW_SKIP_BROWSER") == "1", reason="KAMREVIEW_SKIP_BROWSER=1")

PERSONAS = {"anon": None, "employee": "K01", "manager": "M1", "hr": "HR1", "payroll": "PAY1"}
LANGS = ("zh-CN", "en")
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
FAILING = ("serious", "critical")
TOUCH = 44  # px, the smallest height of a button or header link at phone width


# The outermost elements reaching past the right edge of the screen, unless inside a box that scrolls
# (a wide table may scroll sideways within itself; the page may not).
WIDER_THAN_SCREEN = """() => {
    const edge = document.documentElement.clientWidth + 1;
    const past = e => e.getBoundingClientRect().right > edge;
    const scrolls = e => { for (let a = e.parentElement; a; a = a.parentElement) {
        if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX) && a !== document.body
            && a !== document.documentElement) return true; } return false; };
    return [...document.querySelectorAll('body *')]
        .filter(e => past(e) && !(e.parentElement && past(e.parentElement)) && !scrolls(e))
        .map(e => (e.id ? '#' + e.id : e.tagName.toLowerCase() + (typeof e.className === 'string' && e.className
                   ? '.' + e.className.split(' ').join('.') : '')) + ' ' + Math.round(e.getBoundingClientRect().right) + 'px');
}"""


@dataclass(frozen=True)
class Visit:
    """One page as one role sees it in one state of the cycle.

    ``path`` may hold ``{cycle_id}``; ``form`` makes the page the answer to a POST of these fields
    (submitted by a script, so the visit does not depend on another page's markup); ``token`` adds
    a survey link's token to the form: "fresh" (unused, stays so), "answer" (a fresh one this POST
    uses up) or "used"; ``status`` is the answer expected.
    """

    name: str
    role: str
    state: str  # open: tasks open · calibration: every task done · approval: payouts await payroll · released: approved, results out
    path: str
    form: dict[str, str] | None = None
    token: str | None = None
    status: int = 200


# Each GET page route → its visits. Routes that are not pages of ours are in NOT_PAGES.
PAGES: dict[str, list[Visit]] = {
    "GET /login": [Visit("login", "anon", "open", "/login")],
    "GET /api-docs": [Visit("api-docs", "anon", "open", "/api-docs")],
    "GET /survey": [Visit("survey-code", "anon", "open", "/survey"),
                    Visit("survey-form", "anon", "open", "/survey", form={}, token="fresh"),
                    Visit("survey-thanks", "anon", "open", "/survey/answer", form={"satisfaction": "5"},
                          token="answer"),
                    Visit("survey-used", "anon", "calibration", "/survey", form={}, token="used", status=410)],
    "GET /me": [Visit("me", "employee", "open", "/me"), Visit("me-released", "employee", "released", "/me")],
    "GET /me/reviews/{cycle_id}": [Visit("self-review", "employee", "open", "/me/reviews/{cycle_id}")],
    "GET /me/results/{cycle_id}": [Visit("results", "employee", "released", "/me/results/{cycle_id}")],
    "GET /manager": [Visit("inbox", "manager", "open", "/manager")],
    "GET /manager/reviews/{cycle_id}/{employee_id}": [
        Visit("score", "manager", "open", "/manager/reviews/{cycle_id}/K01")],
    "GET /me/goals": [Visit("goals", "employee", "open", "/me/goals?period=2026-Q3"),
                      Visit("goals-draft", "employee", "open", "/me/goals?period=2026-Q4")],
    "GET /manager/goals": [Visit("team-goals", "manager", "open", "/manager/goals?period=2026-Q3")],
    "GET /manager/goals/{employee_id}": [
        Visit("report-goals", "manager", "open", "/manager/goals/K03?period=2026-Q3")],
    "GET /hr": [Visit("cycles", "hr", "open", "/hr")],
    "GET /hr/schedules": [Visit("schedules", "hr", "open", "/hr/schedules")],
    "GET /hr/cycles/{cycle_id}": [Visit("dashboard", "hr", "open", "/hr/cycles/{cycle_id}"),
                                  Visit("survey-links", "hr", "open", "/hr/cycles/{cycle_id}/survey-links", form={"reissue": "1"}),
                                  Visit("dashboard-released", "hr", "released", "/hr/cycles/{cycle_id}")],
    "GET /hr/cycles/{cycle_id}/calibration": [
        Visit("calibration", "hr", "calibration", "/hr/cycles/{cycle_id}/calibration")],
    "GET /hr/cycles/{cycle_id}/calibration/finalize": [
        Visit("finalize-confirm", "hr", "calibration", "/hr/cycles/{cycle_id}/calibration/finalize")],
    "GET /hr/cycles/{cycle_id}/participants/{employee_id}": [
        Visit("participant", "hr", "calibration", "/hr/cycles/{cycle_id}/participants/K01"),
        Visit("participant-open", "hr", "open", "/hr/cycles/{cycle_id}/participants/K01"),  # the reopen form
        Visit("participant-committee", "manager", "calibration", "/hr/cycles/{cycle_id}/participants/K01")],
    "GET /hr/cycles/{cycle_id}/results/release": [
        Visit("release-blocked", "hr", "open", "/hr/cycles/{cycle_id}/results/release"),
        Visit("release-confirm", "hr", "approval", "/hr/cycles/{cycle_id}/results/release")],
    "GET /hr/cycles/{cycle_id}/cancel": [Visit("cancel-confirm", "hr", "open", "/hr/cycles/{cycle_id}/cancel")],
    "GET /hr/cycles/{cycle_id}/audit": [Visit("audit", "hr", "released", "/hr/cycles/{cycle_id}/audit")],
    "GET /hr/imports": [Visit("imports", "hr", "open", "/hr/imports"),
                        Visit("imports-problems", "hr", "open", "/hr/imports", form={"source": "zoho"}, status=422)],
    "GET /settings": [Visit("settings", "employee", "open", "/settings"), Visit("settings-hr", "hr", "open", "/settings")],
    "GET /hr/people": [Visit("people", "hr", "open", "/hr/people")],
    "GET /password/forgot": [Visit("forgot", "anon", "open", "/password/forgot"),
                             Visit("forgot-sent", "anon", "open", "/password/forgot", form={"login": "nobody@example.com"})],
    "GET /password": [Visit("password-code", "anon", "open", "/password"),
                      Visit("password-form", "anon", "open", "/password", form={}, token="password"),
                      Visit("password-closed", "anon", "open", "/password", form={"token": "NotAValidLinkTokenAtAll"},
                            status=404)],
    "GET /payroll/cycles/{cycle_id}/approval": [
        Visit("approval", "payroll", "approval", "/payroll/cycles/{cycle_id}/approval")],
    "GET /payroll": [Visit("statements", "payroll", "released", "/payroll")],
    "GET /payroll/statements/{cycle_id}": [Visit("statement", "payroll", "released", "/payroll/statements/{cycle_id}")],
    "GET /trends/employees/{employee_id}": [Visit("trend", "employee", "released", "/trends/employees/K01"),
                                            Visit("trend-report", "manager", "released", "/trends/employees/K01")],
    "GET /trends/teams/{manager_id}": [Visit("team-trend", "manager", "released", "/trends/teams/M1")],
    "GET /trends": [Visit("drift", "hr", "released", "/trends")],
    "GET /hr/cycles/{cycle_id}/sign-off": [Visit("sign-off", "hr", "released", "/hr/cycles/{cycle_id}/sign-off")],
    "GET /me/peers/{cycle_id}": [Visit("peer-nomination", "employee", "open", "/me/peers/{cycle_id}")],
    "GET /manager/peers/{cycle_id}/{employee_id}": [
        Visit("peer-approval", "manager", "open", "/manager/peers/{cycle_id}/K01")],
    "GET /me/peer-feedback/{cycle_id}/{employee_id}": [
        Visit("peer-form", "employee", "open", "/me/peer-feedback/{cycle_id}/K02")],
    "GET /manager/results/{cycle_id}": [
        Visit("results-conversations", "manager", "released", "/manager/results/{cycle_id}")],
    # The generic form of a phase defined only in the registry (the cycle adds the toy check-in of
    # tests/test_phase_registry.py); a shipped phase's own page is visited above, this route redirects there.
    "GET /tasks/{cycle_id}/{phase}/{employee_id}": [
        Visit("phase-form", "manager", "open", "/tasks/{cycle_id}/toy_check_in/K01"),
        Visit("phase-form-refused", "manager", "open", "/tasks/{cycle_id}/toy_check_in/K01",
              form={"q:clarity": "3"}, status=422),
        Visit("phase-form-done", "manager", "calibration", "/tasks/{cycle_id}/toy_check_in/K01")],
}
# Error pages (error.html through the app's handlers): not a route of their own.
ERRORS = [Visit("error-404", "anon", "open", "/no-such-page", status=404),
          Visit("error-403", "employee", "open", "/hr", status=403),
          Visit("error-404-cycle", "hr", "open", "/hr/cycles/NOSUCHCYCLE", status=404)]
NOT_PAGES = {
    "GET /openapi.json": "JSON",
    "GET /docs": "Swagger UI, third-party markup (served from the swagger-ui-py package)",
    "GET /docs/oauth2-redirect": "Swagger UI",
    "GET /redoc": "ReDoc, third-party markup from a CDN",
    "GET /": "redirects to the reader's start page",
    "GET /language/{code}": "sets the language and redirects back",
    "GET /hr/cycles/{cycle_id}/audit.csv": "a CSV download",
    "GET /metrics": "Prometheus text format",
}

# (visit name, axe rule) pairs accepted as failing for now, each with its reason; none today. An entry that
# no longer fails is reported too, so the list cannot go stale.
KNOWN: set[tuple[str, str]] = set()


def page_routes() -> set[str]:
    app = create_app("postgresql://unused/unused", None, "unused", settings_for_tests())  # routes only, never opened
    return {f"{m} {p}" for m, p in endpoints(app) if m == "GET" and not p.startswith("/api/")}


def test_every_page_has_an_accessibility_visit():
    routes = page_routes()
    listed = set(PAGES) | set(NOT_PAGES)
    assert routes == listed, (f"GET pages without an accessibility visit: {sorted(routes - listed)}; "
                              f"entries without a route: {sorted(listed - routes)}")
    assert all(PAGES[key] for key in PAGES)


@dataclass
class Finding:
    visit: str
    variant: str
    rule: str
    impact: str
    targets: list[str]
    help: str
    url: str = ""

    def line(self) -> str:
        shown = ", ".join(self.targets[:4]) + (f" (+{len(self.targets) - 4} more)" if len(self.targets) > 4 else "")
        return f"{self.visit} [{self.variant}] {self.rule} ({self.impact}): {self.help} → {shown} {self.url}"


@dataclass
class Walk:
    """The browser, one signed-in context per role, the cycle, and what the visits found."""

    base: str
    cycle_id: str
    browser: Any
    shots: Path | None
    contexts: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, Any] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)  # fresh survey links
    password_token: str = ""  # a set-password link's token (opening the form does not use it up)
    used: list[str] = field(default_factory=list)  # answered ones
    findings: list[Finding] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def page(self, role: str) -> Any:
        if role not in self.pages:
            context = self.browser.new_context()
            context.set_default_timeout(20_000)
            username = PERSONAS[role]
            if username:
                r = context.request.post(f"{self.base}/api/session",
                                         data={"username": username, "password": password_of(username)})
                assert r.ok, r.text()
                self.csrf[role] = r.json()["csrf_token"]
            self.contexts[role], self.pages[role] = context, context.new_page()
        return self.pages[role]

    def open(self, visit: Visit, lang: str, width: str) -> Any:
        page = self.page(visit.role)
        page.context.add_cookies([{"name": "kr_lang", "value": lang, "url": self.base}])
        page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
        url = self.base + visit.path.replace("{cycle_id}", self.cycle_id)
        if visit.form is None:
            response = page.goto(url)
            status = response.status if response else 0
        else:
            fields = dict(visit.form)
            if visit.token == "answer":
                self.used.append(self.tokens.pop())
            if visit.token == "password":
                fields["token"] = self.password_token
            elif visit.token:
                fields["token"] = self.used[-1] if visit.token in ("answer", "used") else self.tokens[0]
            if visit.role in self.csrf:
                fields["csrf_token"] = self.csrf[visit.role]
            page.goto(f"{self.base}/api/health")  # same origin, so the session cookie goes with the POST
            with page.expect_navigation() as nav:
                page.evaluate("""([url, fields]) => {
                    const form = document.createElement('form'); form.method = 'post'; form.action = url;
                    for (const [k, v] of Object.entries(fields)) {
                        const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;
                        form.appendChild(i);
                    }
                    document.body.appendChild(form); form.submit(); }""", [url, fields])
            status = nav.value.status if nav.value else 0
        assert status == visit.status, f"{visit.name} ({lang}, {width}): {status}, expected {visit.status}"
        return page

    def check(self, visit: Visit) -> None:
        from axe_playwright_python.sync_playwright import Axe

        axe = Axe()
        for lang in LANGS:
            for width in WIDTHS:
                page = self.open(visit, lang, width)
                variant = f"{lang} {width}"
                self.visited.append(f"{visit.role}:{visit.name} ({visit.state}) {variant}")
                if self.shots is not None:
                    page.screenshot(path=str(self.shots / f"{visit.role}-{visit.name}-{lang}-{width}.png"),
                                    full_page=True)
                assert page.evaluate("document.documentElement.lang") == lang, f"{visit.name}: <html lang>"
                for v in axe.run(page).response["violations"]:
                    self.findings.append(Finding(visit.name, variant, v["id"], v["impact"] or "",
                                                 [" ".join(n["target"]) for n in v["nodes"]], v["help"], v["helpUrl"]))
                for problem in (keyboard(page) if (lang, width) in KEYBOARD else []):
                    self.findings.append(Finding(visit.name, variant, "keyboard", "serious", [problem],
                                                 "the skip link comes first, shows, and moves focus to the content; "
                                                 "every focused control shows a focus ring"))
                if width == "phone":
                    small = page.evaluate(f"""() => [...document.querySelectorAll(
                            'button, .button, input[type=submit], input[type=button], header a')]
                        .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < {TOUCH})
                        .map(e => (e.id ? '#' + e.id : e.tagName.toLowerCase()) + ' "' + e.textContent.trim().slice(0, 30)
                                  + '" ' + Math.round(e.getBoundingClientRect().height) + 'px')""")
                    if small:
                        self.findings.append(Finding(visit.name, variant, "touch-target-44", "serious", small,
                                                     f"buttons and header links at least {TOUCH} px tall on a phone"))
                    wide = page.evaluate(WIDER_THAN_SCREEN)
                    if wide:
                        self.findings.append(Finding(visit.name, variant, "reflow-390", "serious", wide,
                                                     "nothing wider than the phone's screen (WCAG 1.4.10 reflow)"))


FOCUSED = """() => { const e = document.activeElement, r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return {tag: e.tagName.toLowerCase(), id: e.id, cls: e.className, text: (e.textContent || '').trim().slice(0, 30),
            inView: r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight,
            ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2}; }"""
TAB_STOPS = 10  # the header and the top of the content: the shared layout's part of every page
KEYBOARD = {("zh-CN", "desktop"), ("en", "phone")}  # focus styles do not depend on the language: two variants do


def keyboard(page: Any) -> list[str]:
    """What a keyboard user meets from the top of the page: the skip link, then rings on every stop."""
    problems = []
    page.evaluate("""() => { window.scrollTo(0, 0);  // Tab starts from the top, not from an autofocused field
        document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex'); }""")
    page.keyboard.press("Tab")
    first = page.evaluate(FOCUSED)
    if "skip" not in str(first["cls"]) or not first["inView"] or not first["ring"]:
        problems.append(f"first Tab stop is {first}, not a visible skip link with a focus ring")
    else:
        page.keyboard.press("Enter")
        if page.evaluate("document.activeElement.id") != "main":
            problems.append("the skip link does not move focus to <main id=main>")
    for _ in range(TAB_STOPS):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop["tag"] == "body":
            break
        if not stop["ring"]:
            problems.append(f"no focus ring on {stop['tag']}#{stop['id']} \"{stop['text']}\"")
    return problems


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is not installed (or set KAMREVIEW_SKIP_BROWSER=1)"
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def visits_in(state: str) -> list[Visit]:
    return [v for v in [*(v for vs in PAGES.values() for v in vs), *ERRORS] if v.state == state]


def complete_every_task(live: Any, db_url: str, org: dict[str, Any], cycle_id: str, hr: httpx.Client) -> None:
    """Self-reviews, scores, check-ins and the surveys still open, so the cycle moves on to calibration."""
    for k in org["kams"]:
        live.call(lambda c, k=k: tasks.submit_task(c, db_url, cycle_id, k, TaskSubmission(
            "toy_check_in", org["manager_of"][k], {"clarity": 3, "follow_up": 4}, {"clarity": "目标已讲清楚"})))
        live.call(lambda c, k=k: tasks.submit_self_review(c, db_url, cycle_id, SelfReviewSubmission(k, ratings(2))))
        live.call(lambda c, k=k: tasks.submit_manager_score(
            c, db_url, cycle_id, k, ManagerScoreSubmission(org["manager_of"][k], ratings(3 if k == "K01" else 2),
                                                           potential=2)))
    links = hr.post(f"/api/hr/cycles/{cycle_id}/survey-links", json={"reissue": True}).json()  # the open ones
    assert links
    for link in links:
        r = hr.post("/api/survey/answer", json={"token": link["url"].split("#")[1], "satisfaction": 4})
        assert r.status_code == 200, r.text


def with_crm_figures(live, db_url: str) -> None:
    """K01's sales figure from CRM records, so the participant and results pages show where it came from."""
    import psycopg

    from services.kpis import compute_kpis

    with psycopg.connect(db_url) as conn:
        conn.execute("""INSERT INTO crm_deal (id, kind, account_id, kam_id, won, amount, currency, closed_on, source)
                        VALUES ('zcrm_a11y_1', 'deal', 'AK01', 'K01', true, 900000, 'CNY', '2026-08-03', 'zoho'),
                               ('zcrm_a11y_2', 'deal', 'AK01', 'K01', true, 5000, 'USD', '2026-09-01', 'zoho')""")
        conn.execute("""INSERT INTO kpi_target (employee_id, period, kpi_id, target, currency, source)
                        VALUES ('K01', '2026-Q3', 'sales_attainment', 1000000, 'CNY', 'targets.csv')""")
    live.call(lambda c: compute_kpis(db_url, "2026-Q3", "HR1"))


def password_reset_token(live: Any, db_url: str, http: httpx.Client) -> str:
    """A set-password link's token, from the reset e-mail K04 asks for (the raw token exists only in the mail)."""
    import email
    import re
    from email import policy

    import psycopg

    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET email = 'k04@acme.example' WHERE id = 'K04'")
    assert http.post("/api/password/forgot", json={"login": "K04"}).status_code == 200
    found: list[str] = []

    def delivered() -> bool:
        for m in live.mails():
            text = email.message_from_bytes(m.as_bytes(), policy=policy.default).get_body(("plain",)).get_content()
            found.extend(re.findall(r"/password#([A-Za-z0-9_-]+)", text))
        return bool(found)

    wait_for(delivered)
    return found[-1]


async def seed_goals(db_url: str) -> None:
    """K01: approved goals with check-ins (2026-Q3) and a draft (2026-Q4); K03: goals waiting for M1's approval."""
    import psycopg

    from domain.goals import CheckInIn, KeyResultIn, ObjectiveIn
    from services import goals

    kr = {"metric": "Key-account revenue", "unit": "CNY", "start_value": 0, "target_value": 3_000_000,
          "due_date": "2026-09-30"}
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        for kam, period in (("K01", "2026-Q3"), ("K01", "2026-Q4"), ("K03", "2026-Q3")):
            o = await goals.add_objective(conn, kam, kam, period, ObjectiveIn(title="扩大重点客户收入", weight=2))
            k = await goals.add_key_result(conn, kam, o, KeyResultIn(**kr))
            o2 = await goals.add_objective(conn, kam, kam, period, ObjectiveIn(title="Win new key accounts"))
            await goals.add_key_result(conn, kam, o2, KeyResultIn(
                metric="Sales target attainment", unit="ratio", start_value="0.8", target_value="1.2",
                due_date="2026-09-30", kpi_id="sales_attainment"))
            if period == "2026-Q4":
                continue
            await goals.submit_goals(conn, kam, kam, period)
            if kam == "K01":
                await goals.approve_goals(conn, "M1", kam, period)
                await goals.check_in(conn, kam, k, CheckInIn(value=1_000_000, comment="两个续约已签"))
                await goals.check_in(conn, kam, k, CheckInIn(value=1_800_000, comment="big order from account A"))


def with_check_in(cycle_id: str) -> Any:
    """The cycle's configuration with the toy check-in added (its generic form is one of the pages)."""
    from domain.cycle import CycleConfig

    data = cycle_config(cycle_id, due="600s").model_dump(mode="json")
    data["added_phases"] = {"toy_check_in": {"due_after": "600s", "reminders_before": [],
                                             "on_deadline": {"action": "close"}}}
    return CycleConfig.model_validate(data)


@pytest.mark.timeout(900)  # one walk over every page of every role, both languages, two widths: minutes on 2 cores
def test_every_page_of_every_role_has_no_serious_accessibility_violation(live, db_url, db_admin_url, web_org, browser):
    with check_in_phase(db_admin_url):
        walk_every_page(live, db_url, web_org, browser)


def walk_every_page(live: Any, db_url: str, web_org: dict[str, Any], browser: Any) -> None:
    shots = Path(os.environ["KR_SHOTS"]) if os.environ.get("KR_SHOTS") else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    cycle_id = open_live_cycle(live, db_url, web_org, with_check_in)
    with_crm_figures(live, db_url)
    live.call(lambda _client: seed_goals(db_url))
    walk = Walk(live.url, cycle_id, browser, shots)
    with httpx.Client(base_url=live.url) as hr:
        r = hr.post("/api/session", json={"username": "HR1", "password": password_of("HR1")})
        hr.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        walk.tokens = [link["url"].split("#")[1] for link in
                       hr.post(f"/api/hr/cycles/{cycle_id}/survey-links", json={}).json()]
        assert len(walk.tokens) >= len(LANGS) * len(WIDTHS) + 1  # one per thank-you page, one to reopen
        walk.password_token = password_reset_token(live, db_url, hr)
        try:
            for visit in visits_in("open"):
                walk.check(visit)
            complete_every_task(live, db_url, web_org, cycle_id, hr)
            wait_for(lambda: workflow_phase(live, cycle_id) == "calibration")
            for visit in visits_in("calibration"):
                walk.check(visit)
            assert hr.post(f"/api/hr/cycles/{cycle_id}/calibration/finalize").status_code == 200
            wait_for(lambda: workflow_phase(live, cycle_id) == "awaiting_approval")
            for visit in visits_in("approval"):
                walk.check(visit)
            with httpx.Client(base_url=live.url) as pay:  # payroll approves, not HR
                r = pay.post("/api/session", json={"username": "PAY1", "password": password_of("PAY1")})
                pay.headers["X-CSRF-Token"] = r.json()["csrf_token"]
                assert pay.post(f"/api/payroll/cycles/{cycle_id}/approve").status_code == 200
            assert hr.post(f"/api/hr/cycles/{cycle_id}/results/release").status_code == 200
            for visit in visits_in("released"):
                walk.check(visit)
        finally:
            for context in walk.contexts.values():
                context.close()

    expected_visits = sum(len(vs) for vs in PAGES.values()) + len(ERRORS)
    assert len(walk.visited) == expected_visits * len(LANGS) * len(WIDTHS)
    for f in walk.findings:
        if f.impact not in FAILING:
            print("a11y (not failing):", f.line())
    failing = [f for f in walk.findings if f.impact in FAILING]
    new = [f for f in failing if (f.visit, f.rule) not in KNOWN]
    stale = KNOWN - {(f.visit, f.rule) for f in failing}
    report = [f.line() for f in new] + [f"KNOWN entry no longer fails (remove it): {pair}" for pair in sorted(stale)]
    assert not report, f"{len(new)} serious/critical accessibility violation(s):\n" + "\n".join(report)
