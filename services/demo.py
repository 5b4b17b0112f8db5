"""`make demo`: a whole review cycle on the embedded servers, with simulated people.

The people behave like people: KAMs write self-reviews at different times, three managers score
promptly, one manager (M4) is late past the deadline and scores in the grace period the cycle's
policy grants, and one key account never answers the survey. HR then calibrates and finalizes,
payroll approves, and the payroll CSV is written.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from temporalio.client import Client

from domain.money import minor_unit
from services import tasks
from services.console import bars_shown, calibration_text, progress, table, working
from services.cycles import (
    adjust_rating,
    approve_payouts,
    create_cycle,
    cycle_report,
    finalize_calibration,
    load_cycle_config,
    start_cycle,
)
from services.db import DirectDatabase
from services.embedded import database_url, temporal_address, temporal_ui_url
from services.errors import UserError
from services.hr_views import calibration_view, release_results
from services.importer import ACCOUNT_COLUMNS, import_files
from services.imports.crm import apply_crm_import, preview_crm_import
from services.payroll import export_payroll_csv
from services.settings import Settings, sign_in_url
from services.temporal import connect_client, query_status
from services.users import seed_demo_users
from services.worker_runtime import running_worker
from workflows.payloads import (
    ManagerScoreSubmission,
    SelfReviewSubmission,
    SurveySubmission,
    cycle_workflow_id,
    review_id_for,
    review_workflow_id,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
LATE_MANAGER = "M4"
SILENT_ACCOUNT_OF = "K07"  # the first key account of this KAM never answers the survey


@dataclass
class People:
    kams: list[tuple[str, str, str]]  # id, name, manager
    contacts: dict[str, list[tuple[str, str]]]  # kam -> [(contact, account)]
    silent_account: str


async def _load_people(db: str, cycle_id: str) -> People:
    async with DirectDatabase(db).connection() as conn:
        kams = await (await conn.execute(
            """SELECT r.employee_id, e.name, r.reviewer_id FROM review r JOIN employee e ON e.id = r.employee_id
               WHERE r.cycle_id = %s ORDER BY r.seq""", (cycle_id,))).fetchall()
        contacts: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for kam, contact, account in await (await conn.execute(
            """SELECT a.kam_id, c.id, a.id FROM key_account a JOIN customer_contact c ON c.account_id = a.id
               ORDER BY a.id, c.id""")).fetchall():
            contacts[kam].append((contact, account))
        (silent,) = await (await conn.execute(
            "SELECT min(id) FROM key_account WHERE kam_id = %s", (SILENT_ACCOUNT_OF,))).fetchone()
    return People(kams, contacts, silent)


async def _later(delay: float, action) -> None:
    await asyncio.sleep(delay)
    try:
        await action()
    except UserError as err:
        progress(f"  ! rejected: {err}")


async def _simulate(client: Client, db: str, cycle_id: str, people: People, scale: float, competencies: list[str]) -> None:
    rng = random.Random(2026)
    jobs = []
    for kam, _name, manager in people.kams:
        base = rng.choice([1, 2, 2, 2, 3])

        def levels(bias: int = 0, base: int = base) -> dict[str, int]:
            return {c: max(1, min(3, base + bias + rng.choice([-1, 0, 0, 0, 1]))) for c in competencies}

        self_levels, manager_levels = levels(bias=1), levels()
        potential = rng.choice([1, 2, 2, 3])
        jobs.append(_later(rng.uniform(1, 12) * scale, lambda k=kam, lv=self_levels: tasks.submit_self_review(
            client, db, cycle_id, SelfReviewSubmission(k, lv, {"customer_relationship": "Renewed two framework contracts"},
                                                    {"sales_attainment": "Pipeline slipped into Q4"}))))
        # M4 misses the deadline (40 s) and scores during the grace period the policy grants.
        when = 45 if manager == LATE_MANAGER else rng.uniform(4, 25)
        jobs.append(_later(when * scale, lambda k=kam, m=manager, lv=manager_levels, p=potential:
                           tasks.submit_manager_score(client, db, cycle_id, k, ManagerScoreSubmission(m, lv, potential=p))))
        for contact, account in people.contacts.get(kam, []):
            if account == people.silent_account:
                continue
            sat = rng.choices([2, 3, 4, 5], weights=[1, 2, 5, 4])[0]
            nps = min(10, max(0, sat * 2 + rng.choice([-1, 0, 0, 1])))
            jobs.append(_later(rng.uniform(2, 30) * scale, lambda k=kam, c=contact, s=sat, n=nps:
                               tasks.submit_survey(client, db, cycle_id, k, SurveySubmission(c, s, n))))
    await asyncio.gather(*jobs)


async def _wait_for_phase(client: Client, db: str, cycle_id: str, phases: set[str], started: float) -> str:
    """Wait for the cycle to reach one of ``phases``: a progress bar of closed reviews on a terminal, else a
    line every 5 s."""
    from workflows.cycle import CycleWorkflow

    handle = client.get_workflow_handle(cycle_workflow_id(cycle_id))
    last_print = 0.0
    bar = bars_shown()
    with working(f"waiting for {' or '.join(sorted(phases))}", total=1) as update:
        while True:
            # Not answered (a loaded machine): asked again, for a minute at most.
            status = await query_status(handle, CycleWorkflow.status, patience_s=60)
            if status.phase in phases:
                return status.phase
            if bar or time.monotonic() - last_print >= 5:
                last_print = time.monotonic()
                report = await cycle_report(None, db, cycle_id)
                done = {k: f"{v.get('done', 0)}/{sum(v.values())}" for k, v in report.tasks.items()}
                missed = sum(v.get("missed", 0) for v in report.tasks.values())
                line = (f"phase {status.phase:<9} self-reviews "
                        f"{done.get('self_review', '-')}, manager scores {done.get('manager_scoring', '-')}, "
                        f"surveys {done.get('customer_survey', '-')}, missed {missed}, reviews closed")
                if bar:
                    update(description=line, completed=report.reviews.get("closed", 0), total=report.participants)
                else:
                    progress(f"  t+{time.monotonic() - started:4.0f}s  {line} "
                             f"{report.reviews.get('closed', 0)}/{report.participants}")
            await asyncio.sleep(0.5)


async def _wait_for_reviews(client: Client, cycle_id: str, people: People) -> None:
    """People start once their tasks exist, i.e. once every review workflow has started."""
    from temporalio.service import RPCError

    for kam, _, _ in people.kams:
        handle = client.get_workflow_handle(review_workflow_id(review_id_for(cycle_id, kam)))
        for _ in range(600):
            try:
                await handle.describe()
                break
            except RPCError:
                await asyncio.sleep(0.1)


def _fmt(amount: Decimal | None, currency: str = "CNY") -> str:
    if amount is None:
        return "-"
    return f"{amount.quantize(Decimal(1).scaleb(-minor_unit(currency))):,}"


async def _summary(db: str, cycle_id: str) -> str:
    async with DirectDatabase(db).connection() as conn:
        rows = await (await conn.execute(
            """SELECT e.id, e.name, r.reviewer_id, r.preliminary_score, c.normalized_score, c.final_level,
                      coalesce(sum(p.amount) FILTER (WHERE p.line_type = 'bonus'), 0),
                      coalesce(sum(p.amount) FILTER (WHERE p.line_type = 'commission'), 0),
                      coalesce(sum(p.amount), 0), r.missing
               FROM review r JOIN employee e ON e.id = r.employee_id
               LEFT JOIN calibrated_rating c ON c.review_id = r.id
               LEFT JOIN payout_line p ON p.cycle_id = r.cycle_id AND p.employee_id = r.employee_id
               WHERE r.cycle_id = %s
               GROUP BY e.id, e.name, r.reviewer_id, r.preliminary_score, c.normalized_score, c.final_level, r.missing
               ORDER BY e.id""", (cycle_id,))).fetchall()
    body = [(i, n, m, s, ns, lvl, _fmt(b), _fmt(cm), _fmt(t), ", ".join(miss or []) or "-")
            for i, n, m, s, ns, lvl, b, cm, t, miss in rows]
    total = sum((r[8] for r in rows), Decimal(0))
    body.append(("", "total", "", "", "", "", _fmt(sum((r[6] for r in rows), Decimal(0))),
                 _fmt(sum((r[7] for r in rows), Decimal(0))), _fmt(total), ""))
    return table(["KAM", "name", "mgr", "prelim", "normalized", "rating", "bonus", "commission", "total CNY",
                  "missing"], body, right=(3, 4, 5, 6, 7, 8))


DemoSource = Literal["csv", "zoho"]
ZOHO_EXPORT = DEMO / "zoho"
"""The demo's key accounts, contacts, deals and cases as Zoho CRM's export writes them (the same accounts as
demo/accounts.csv, owned by the same KAMs)."""


def import_demo_data(db: str, source: DemoSource = "csv") -> None:
    """The demo organisation and KPI actuals from the project's files; the key accounts from those files too, or
    from Zoho CRM export files (``source="zoho"``), as HR would import them from their CRM."""
    if source == "csv":
        progress("importing the sample organisation (demo/org.csv, accounts.csv, kpis.csv) ...")
        import_files(db, DEMO / "org.csv", DEMO / "accounts.csv", DEMO / "kpis.csv")
        return
    progress("importing the sample organisation and KPI actuals (demo/org.csv, kpis.csv) ...")
    with tempfile.TemporaryDirectory() as folder:
        no_accounts = Path(folder) / "accounts.csv"  # the CRM holds the accounts
        no_accounts.write_text(",".join(ACCOUNT_COLUMNS[:4]) + "\n", encoding="utf-8")
        import_files(db, DEMO / "org.csv", no_accounts, DEMO / "kpis.csv")
    files = sorted(ZOHO_EXPORT.glob("*.csv"))
    progress(f"importing the key accounts from Zoho CRM's export files ({', '.join(f.name for f in files)}) ...")
    preview = preview_crm_import(db, "zoho", files)
    for line in preview.lines():
        if not str(line).startswith("  "):  # the counts and what was read, not every example
            progress(f"  {line}")
    apply_crm_import(db, "zoho", files, actor="HR1", expect=preview.digest)


async def run_demo(settings: Settings, fast: bool = False, source: DemoSource = "csv") -> int:
    started = time.monotonic()
    progress("starting the servers (embedded unless configured) ...")
    db = database_url(settings)
    address = temporal_address(settings)
    client = await connect_client(address, settings.temporal_namespace)
    import_demo_data(db, source)
    demo_users = seed_demo_users(db)  # web sign-ins for HR1, PAY1, M1..M4, K01..K20 (see the README)
    scale = 0.3 if fast else 1.0
    config = _with_goals(load_cycle_config(DEMO / "cycle.yaml"))
    cycle_id = f"2026-Q3-{datetime.now(UTC).strftime('%m%d%H%M%S')}"
    config = _scaled(config.model_copy(update={"id": cycle_id}), scale)
    goals_set = await _seed_goals(db, config.period.label)
    progress(f"{goals_set} KAMs have approved goals (OKRs) for {config.period.label}, with check-ins; "
             f"goals weigh {config.scorecard.component_weights.goals} % of the score")
    created = await create_cycle(db, config, actor="HR1")
    progress(f"cycle {cycle_id} created: {created.participants} KAMs; deadlines in "
             f"{config.phases.self_review.due_after.total_seconds():.0f} s")
    people = await _load_people(db, cycle_id)
    competencies = [c.id for c in config.scorecard.competencies.items] if config.scorecard.competencies else []
    async with running_worker(client, db, settings.task_queue):
        await start_cycle(client, db, cycle_id, settings.task_queue)
        progress("cycle started: KAMs, managers and customers are working (M4 will be late, "
                 f"account {people.silent_account} will not answer) ...")
        await _wait_for_reviews(client, cycle_id, people)
        sim = asyncio.create_task(_simulate(client, db, cycle_id, people, scale, competencies))
        await _wait_for_phase(client, db, cycle_id, {"calibration"}, started)
        await sim
        report = await cycle_report(client, db, cycle_id)
        progress(f"all reviews closed ({report.workflow.reviews_with_missing} with something missing); "
                 "calibration is open")
        async with DirectDatabase(db).connection() as conn:
            print(calibration_text(await calibration_view(conn, cycle_id)))
        target = await _adjustment_target(db, cycle_id)
        if target:
            emp, level = target
            await adjust_rating(client, db, cycle_id, emp, level,
                                "Calibration committee: scored in the grace period; raised after comparing teams",
                                "HR1")
            progress(f"HR adjusted {emp} to level {level} (reason recorded in the audit log)")
        await finalize_calibration(client, db, cycle_id, "HR1")
        progress("calibration finalized; computing incentives ...")
        await _wait_for_phase(client, db, cycle_id, {"awaiting_approval"}, started)
        locked = await approve_payouts(client, db, cycle_id, "PAY1")
        progress(f"payroll (PAY1) approved and locked {locked} payout lines")
        await client.get_workflow_handle(cycle_workflow_id(cycle_id)).result()
        async with DirectDatabase(db).connection() as conn:
            await release_results(conn, cycle_id, "HR1", client, settings.task_queue)
        progress("HR released the results: every KAM is told where to see them")
        deliveries = await _wait_for_deliveries(db, cycle_id)
    out = ROOT / "out" / f"payroll-{cycle_id}.csv"
    export_payroll_csv(db, cycle_id, out)
    print()
    print(await _summary(db, cycle_id))
    print()
    print(await _goals_line(db, cycle_id))
    print()
    ui = temporal_ui_url(settings)
    if ui:
        print(f"Temporal Web UI: {ui}/namespaces/{settings.temporal_namespace}/workflows/{cycle_workflow_id(cycle_id)}")
        print("  (the embedded servers keep running; `make stop` stops them)")
    else:
        print(f"Temporal: {address}, workflow {cycle_workflow_id(cycle_id)}")
    print(f"web app: `make serve`, then sign in at {sign_in_url()} as one of the {len(demo_users)} demo users "
          "(HR1, PAY1, M1..M4, K01..K20; their demo passwords are in the README)")
    print("messages delivered:")
    for kind, by_channel in sorted(deliveries.items()):
        print(f"  {kind}: " + ", ".join(f"{n} by {channel}" for channel, n in sorted(by_channel.items())))
    if not settings.mail.smtp_host:
        print(f"  e-mail went to the Maildir {settings.data_path / 'mail'} (open it with any mail client)")
    print(f"demo finished in {time.monotonic() - started:.0f} s; payroll CSV:")
    print(out)
    return 0


async def _wait_for_deliveries(db: str, cycle_id: str, timeout: float = 60) -> dict[str, dict[str, int]]:
    """Wait until the cycle's messages are out (sent, or given up on); then: kind -> channel -> delivered."""
    deadline = time.monotonic() + timeout
    while True:
        async with DirectDatabase(db).connection() as conn:
            (pending,) = await (await conn.execute(
                "SELECT count(*) FROM notification WHERE cycle_id = %s AND status IN ('queued', 'claimed', 'sending')",
                (cycle_id,))).fetchone()
            if not pending or time.monotonic() > deadline:
                rows = await (await conn.execute(
                    "SELECT kind, channel, count(*) FROM notification WHERE cycle_id = %s AND status = 'sent' "
                    "GROUP BY 1, 2", (cycle_id,))).fetchall()
                out: dict[str, dict[str, int]] = {}
                for kind, channel, n in rows:
                    out.setdefault(kind, {})[channel] = n
                return out
        await asyncio.sleep(0.2)


async def _adjustment_target(db: str, cycle_id: str) -> tuple[str, int] | None:
    """HR raises by one level the best-scored KAM of the late manager, a typical committee decision."""
    async with DirectDatabase(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT employee_id, final_level FROM calibrated_rating
               WHERE cycle_id = %s AND manager_id = %s AND final_level IS NOT NULL AND final_level < 5
               ORDER BY normalized_score DESC, employee_id LIMIT 1""", (cycle_id, LATE_MANAGER))).fetchone()
    return (row[0], row[1] + 1) if row else None


async def _goals_line(db: str, cycle_id: str) -> str:
    """How goals fed one KAM's preliminary score, as the score line explains it (also in `review show`)."""
    async with DirectDatabase(db).connection() as conn:
        row = await (await conn.execute(
            """SELECT employee_id, line FROM review, jsonb_array_elements(score_breakdown -> 'lines') AS line
               WHERE cycle_id = %s AND line ->> 'component' = 'goals' ORDER BY employee_id LIMIT 1""",
            (cycle_id,))).fetchone()
    if row is None:
        return "goals: no review had approved goals to score"
    employee, line = row
    return (f"goals in {employee}'s preliminary score: attainment {line['actual']} → score {line['item_score']}, "
            f"weight {line['weight_pct']} %, contribution {line['contribution']}\n  {line['explanation']}\n"
            f"  (every line: `kamreview review show {cycle_id} {employee}`)")


#: The demo weighs goals: 10 points of the KPIs' share move to the KAMs' approved OKRs (docs/goals.md).
DEMO_WEIGHTS = {"kpis": 50, "competencies": 25, "csat": 15, "goals": 10}


def _with_goals(config):
    data = config.model_dump(mode="json")
    data["scorecard"]["component_weights"] = DEMO_WEIGHTS
    return type(config).model_validate(data)


async def _seed_goals(db: str, period: str) -> int:
    """Every KAM drafts two objectives (revenue by check-in, the sales target from the KPI figures), submits them,
    their manager approves, and the KAM checks in twice; a few KAMs are further along than others."""
    from domain.goals import CheckInIn, KeyResultIn, ObjectiveIn
    from services import goals

    count = 0
    async with DirectDatabase(db).connection() as conn:
        kams = await (await conn.execute(
            "SELECT id, manager_id FROM employee WHERE role = 'kam' AND manager_id IS NOT NULL ORDER BY id")).fetchall()
        for n, (kam, manager) in enumerate(kams):
            existing = await (await conn.execute("SELECT 1 FROM goal_plan WHERE employee_id = %s AND period = %s",
                                                 (kam, period))).fetchone()
            if existing:  # a second demo run keeps the goals of the first
                continue
            grow = await goals.add_objective(conn, kam, kam, period, ObjectiveIn(title="扩大重点客户收入", weight=2))
            revenue = await goals.add_key_result(conn, kam, grow, KeyResultIn(
                metric="重点客户收入", unit="万元", start_value=0, target_value=500, due_date="2026-09-30", weight=2))
            await goals.add_key_result(conn, kam, grow, KeyResultIn(
                metric="销售目标达成率", unit="ratio", start_value="0.8", target_value="1.2", due_date="2026-09-30",
                kpi_id="sales_attainment"))
            win = await goals.add_objective(conn, manager, kam, period, ObjectiveIn(title="开拓新的重点客户"))
            accounts = await goals.add_key_result(conn, manager, win, KeyResultIn(
                metric="新签重点客户数", unit="家", start_value=0, target_value=3, due_date="2026-09-30"))
            await goals.submit_goals(conn, kam, kam, period)
            await goals.approve_goals(conn, manager, kam, period)
            await goals.check_in(conn, kam, revenue, CheckInIn(value=150 + 20 * (n % 7), comment="两家客户续约"))
            await goals.check_in(conn, kam, revenue, CheckInIn(value=280 + 35 * (n % 7), comment="季度末大单落地"))
            await goals.check_in(conn, kam, accounts, CheckInIn(value=n % 4, comment="新签客户"))
            count += 1
    return count


def _scaled(config, scale: float):
    if scale == 1.0:
        return config
    phases = {}
    for name in ("self_review", "manager_scoring", "customer_survey"):
        phase = getattr(config.phases, name)
        policy = phase.on_deadline
        phases[name] = phase.model_copy(update={
            "due_after": phase.due_after * scale,
            "reminders_before": [r * scale for r in phase.reminders_before],
            "on_deadline": policy.model_copy(update={"extend_by": policy.extend_by * scale if policy.extend_by else None}),
        })
    return config.model_copy(update={"phases": config.phases.model_copy(update=phases)})
