"""The HR command line: clear messages and documented exit codes for mistakes, never a traceback.

Exit codes: 2 usage error or invalid input, 3 not found, 4 refused (conflict, not allowed); ``--json`` parses.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"


def cli_env(db_url: str, client, task_queue: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Both servers configured (nothing is started); acting as HR1; no user config file of the developer's."""
    return os.environ | {
        "KAMREVIEW_DATABASE_URL": db_url,
        "KAMREVIEW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KAMREVIEW_TASK_QUEUE": task_queue,
        "KAMREVIEW_DATA_DIR": str(tmp_path / "data"),
        "KAMREVIEW_ACTOR": "HR1",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
    } | extra


def run_cli(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120,
            entry: tuple[str, ...] = ("-m", "cli")) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *entry, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc


@pytest.fixture
def cli(db_url, client, task_queue, tmp_path):
    """Run `python -m cli` (the `kamreview` command) against the test servers."""
    env = cli_env(db_url, client, task_queue, tmp_path)

    def run(*args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess:
        return run_cli(env | extra, tmp_path, *args, timeout=timeout)

    return run


def _config(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((DEMO / "cycle.yaml").read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[leaf] = value
    path = tmp_path / f"cycle-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _import_demo(cli) -> None:
    proc = cli("import", str(DEMO / "org.csv"), str(DEMO / "accounts.csv"), str(DEMO / "kpis.csv"))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scorecard__component_weights__kpis": 50}, "scorecard.component_weights: weights sum to 90"),
        ({"scorecard__kpis__0__id": "golf_handicap"}, "scorecard.kpis.0.id"),
        ({"calibration__guideline": {5: 10, 4: 25, 3: 40, 2: 15, 1: 5}}, "calibration.guideline"),
        ({"phases__self_review__due_after": "soon"}, "phases.self_review.due_after: 'soon' is not a duration"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"incentive_plan__rounding": "UP"}, "incentive_plan.rounding"),
        ({"incentive_plan__rating_multipliers": {5: 1.5, 4: 1.2, 3: 1}},
         "incentive_plan.rating_multipliers: no multiplier for calibration level 1"),
    ],
)
def test_invalid_configuration_names_the_field(cli, tmp_path, db_url, changes, expected):
    proc = cli("cycle", "create", str(_config(tmp_path, **changes)))
    assert proc.returncode == 2
    assert expected in proc.stderr
    from tests.helpers import count

    assert count(db_url, "SELECT count(*) FROM review_cycle") == 0


def test_configuration_file_problems(cli, tmp_path):
    missing = cli("cycle", "create", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "nope.yaml: no such file" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: X\nname: [unclosed\n", encoding="utf-8")
    proc = cli("cycle", "create", str(broken))
    assert proc.returncode == 2 and "not valid YAML at line" in proc.stderr


def test_import_errors_name_file_line_and_column(cli, tmp_path):
    org = tmp_path / "ORG.csv"
    org.write_text((DEMO / "org.csv").read_text(encoding="utf-8").replace(",M1,", ",M9,", 1), encoding="utf-8")
    proc = cli("import", str(org), str(DEMO / "accounts.csv"), str(DEMO / "kpis.csv"))
    assert proc.returncode == 2
    assert "ORG.csv:" in proc.stderr and ":manager_id: unknown manager 'M9'" in proc.stderr


def test_create_is_idempotent_and_frozen(cli, tmp_path):
    _import_demo(cli)
    again = cli("import", str(DEMO / "org.csv"), str(DEMO / "accounts.csv"), str(DEMO / "kpis.csv"))
    assert again.returncode == 0 and "nothing changed" in again.stdout
    first = cli("cycle", "create", str(DEMO / "cycle.yaml"), "--id", "CLI1")
    assert first.returncode == 0, first.stderr
    assert "cycle CLI1 created: 20 participants" in first.stdout
    second = cli("cycle", "create", str(DEMO / "cycle.yaml"), "--id", "CLI1")
    assert second.returncode == 0 and "already exists (same configuration" in second.stdout
    changed = cli("cycle", "create", str(_config(tmp_path, name="Another name")), "--id", "CLI1")
    assert changed.returncode == 2 and "frozen at creation" in changed.stderr
    status = cli("cycle", "status", "CLI1")
    assert status.returncode == 0 and "not started" in status.stdout


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        (("cycle", "start", "NOPE"), "cycle NOPE does not exist", 3),
        (("cycle", "status", "NOPE"), "cycle NOPE does not exist", 3),
        (("cycle", "status", "NOPE", "--json"), "cycle NOPE does not exist", 3),
        (("cycle", "cancel", "NOPE", "--reason", "reorganisation"), "cycle NOPE does not exist", 3),
        (("cycle", "cancel", "NOPE"), "--reason", 2),
        (("payroll", "export", "NOPE"), "cycle NOPE does not exist", 3),
        (("payroll", "statement", "NOPE", "K01"), "employee K01 does not exist", 3),
        (("review", "show", "NOPE", "K01"), "K01 has no review in cycle NOPE", 3),
        (("notifications", "list", "NOPE"), "cycle NOPE does not exist", 3),
        (("notifications", "list", "NOPE", "--status", "lost"), "--status", 2),
        (("calibration", "adjust", "NOPE", "K01", "4", "--reason", "x"), "cycle NOPE is not running", 3),
        # An empty database: PAY1 is nobody yet (test_payroll_approval.py: once imported), so not allowed: refused.
        (("payouts", "approve", "NOPE", "--actor", "PAY1"), "PAY1 may not approve payouts", 4),
        (("submit", "self-review", "NOPE", "K01", "--ratings", "communication=x"), "communication must be a whole number", 2),
        (("cycle", "frobnicate"), "No such command", 2),
    ],
)
def test_user_mistakes_exit_with_their_code_and_a_message(cli, args, expected, code):
    proc = cli(*args)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert expected in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("args", [
    ("cycle", "create", str(DEMO / "cycle.yaml")),
    ("cycle", "cancel", "C1", "--reason", "r"),
    ("calibration", "adjust", "C1", "K01", "4", "--reason", "r"),
    ("calibration", "correct", "C1", "K01", "4", "--reason", "r"),
    ("calibration", "finalize", "C1"),
    ("payouts", "approve", "C1"),
    ("incentives", "retry", "C1"),
    ("notifications", "resend", "42"),
    ("submit", "score", "C1", "K01", "--ratings", "communication=2"),
])
def test_commands_that_record_an_actor_refuse_without_one(cli, db_url, args):
    proc = cli(*args, KAMREVIEW_ACTOR="")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no acting identity is configured" in proc.stderr and "KAMREVIEW_ACTOR" in proc.stderr
    from tests.helpers import count

    assert count(db_url, "SELECT count(*) FROM review_cycle") == 0


def test_the_actor_comes_from_the_config_file_and_is_checked(cli, tmp_path, db_url):
    _import_demo(cli)
    config = tmp_path / "config" / "kamreview" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('actor = "HR 1"\n', encoding="utf-8")
    bad = cli("cycle", "create", str(DEMO / "cycle.yaml"), "--id", "ACT1", KAMREVIEW_ACTOR="")
    assert bad.returncode == 2 and "config.toml: actor: 'HR 1' is not a valid id" in bad.stderr
    assert cli("cycle", "create", str(DEMO / "cycle.yaml"), KAMREVIEW_ACTOR="HR 1").returncode == 2
    config.write_text('actor = "HR1"\n', encoding="utf-8")
    made = cli("cycle", "create", str(DEMO / "cycle.yaml"), "--id", "ACT1", KAMREVIEW_ACTOR="")
    assert made.returncode == 0, made.stderr
    from tests.helpers import count

    assert count(db_url, "SELECT count(*) FROM audit_log WHERE actor = 'HR1'") >= 1


def test_tables_pad_chinese_names_by_display_width(cli, tmp_path):
    from rich.cells import cell_len

    _import_demo(cli)
    for cid, name in (("W1", "大客户经理季度考核"), ("W2", "KAM review"), ("W3", "王芳 / Wang Fang")):
        assert cli("cycle", "create", str(_config(tmp_path, name=name)), "--id", cid).returncode == 0
    out = cli("cycle", "list").stdout.splitlines()
    header, rows = out[0], [line for line in out[2:] if line.startswith("W")]
    assert len(rows) == 3
    # The status column starts at the same display column on every line, whatever the names' widths.
    starts = {cell_len(line[:line.index(word)]) for line, word in [(header, "status"), *((r, "created") for r in rows)]}
    assert len(starts) == 1, out
    assert any("大客户经理季度考核" in r for r in rows)
    listed = json.loads(cli("cycle", "list", "--json").stdout)
    assert {c["cycle_id"]: c["name"] for c in listed["cycles"]}["W1"] == "大客户经理季度考核"


def test_read_commands_answer_in_json(cli, tmp_path):
    _import_demo(cli)
    assert cli("cycle", "create", str(DEMO / "cycle.yaml"), "--id", "JS1").returncode == 0
    listed = json.loads(cli("cycle", "list", "--json").stdout)
    (row,) = listed["cycles"]
    assert row["cycle_id"] == "JS1" and row["status"] == "created" and row["participants"] == 20
    assert row["created_at"].endswith("+00:00") and row["started_at"] is None  # ISO 8601 with the offset
    status = json.loads(cli("cycle", "status", "JS1", "--json").stdout)
    assert status["cycle_id"] == "JS1" and status["phase"] == "created" and status["participants"] == 20
    assert [b["kind"] for b in status["blockers"]] == ["not_started"]
    assert status["blockers"][0]["hint"] == "kamreview cycle start JS1"
    assert status["blockers"][0]["message"] == "the cycle is not started"
    tasks = json.loads(cli("tasks", "K01", "--json").stdout)
    assert tasks == {"assignee": "K01", "tasks": []}
    notes = json.loads(cli("notifications", "list", "JS1", "--json").stdout)
    assert notes == {"cycle_id": "JS1", "messages": []}
    report = json.loads(cli("calibration", "report", "JS1", "--json").stdout)
    assert report["cycle_id"] == "JS1" and report["ratings"] == [] and report["report"] is None
    preview = json.loads(cli("incentives", "preview", str(ROOT / "examples" / "plan.yaml"),
                             str(ROOT / "examples" / "inputs.csv"), "--json").stdout)
    bonus = {(ln["employee_id"], ln["line_type"]): ln["amount"] for ln in preview["lines"]}
    assert bonus[("E1", "bonus")] == "18750.00" and preview["plan"]["id"]


def test_demo_runs_a_whole_cycle_and_ends_with_the_csv_path(cli, tmp_path):
    proc = cli("demo", "--fast", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    path = Path(last)
    assert path.name.startswith("payroll-2026-Q3-") and path.exists()
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    assert {"employee_id", "amount", "currency", "line_type", "idempotency_key"} <= set(rows[0])
    assert len({r["idempotency_key"] for r in rows}) == len(rows) == 40
    assert "M4" in proc.stdout and "total" in proc.stdout
    path.unlink()
    cid = path.stem.removeprefix("payroll-")

    # The finished cycle, read as JSON: amounts are decimal strings in the currency's minor unit, times ISO 8601.
    st = json.loads(cli("payroll", "statement", cid, "K01", "--json").stdout)
    assert st["employee_id"] == "K01" and st["lines"] and st["lines"][0]["currency"] == "CNY"
    assert all(isinstance(ln["amount"], str) and ln["amount"].count(".") == 1 for ln in st["lines"])
    assert set(st["totals"]) == {"CNY"}
    review = json.loads(cli("review", "show", cid, "K01", "--json").stdout)
    assert review["employee_id"] == "K01" and review["final_level"] in range(1, 6)
    assert isinstance(review["preliminary_score"], str)
    goals = [ln for ln in review["breakdown"]["lines"] if ln["component"] == "goals"]  # the demo weighs OKRs
    assert len(goals) == 1 and "linear to target, capped" in goals[0]["explanation"], review["breakdown"]["lines"]
    calibration = json.loads(cli("calibration", "report", cid, "--json").stdout)
    assert calibration["finalized"] is True and len(calibration["ratings"]) == 20
    tasks = json.loads(cli("tasks", "M1", "--all", "--json").stdout)["tasks"]
    assert tasks and all(t["due_at"][-6] in "+-" for t in tasks)
    status = json.loads(cli("cycle", "status", cid, "--json").stdout)
    assert status["phase"] == "locked" and status["blockers"] == []
    notes = json.loads(cli("notifications", "list", cid, "--json").stdout)["messages"]
    assert notes and {"id", "kind", "recipient_id", "channel", "status", "sent_at"} <= set(notes[0])

    # Refused by the state (the payouts are approved): exit 4, and nothing changed.
    late = cli("cycle", "cancel", cid, "--reason", "too late")
    assert late.returncode == 4 and late.stderr.startswith("error: ") and late.stdout == "", late.stdout + late.stderr
    assert json.loads(cli("cycle", "status", cid, "--json").stdout)["phase"] == "locked"


def test_starter_py_is_the_same_command_line(db_url, client, task_queue, tmp_path):
    env = cli_env(db_url, client, task_queue, tmp_path)
    help_ = run_cli(env, tmp_path, "--help", entry=(str(ROOT / "starter.py"),))
    assert help_.returncode == 0 and "calibration" in help_.stdout
    missing = run_cli(env, tmp_path, "cycle", "status", "NOPE", entry=(str(ROOT / "starter.py"),))
    assert missing.returncode == 3 and "cycle NOPE does not exist" in missing.stderr


def test_shell_completion_is_offered(cli):
    # The shell named, not detected from the process tree (a test run under make's sh failed with "Shell sh not
    # supported"): typer's own switch for that.
    proc = cli("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert proc.returncode == 0 and "_KAMREVIEW_COMPLETE" in proc.stdout
    words = cli(_KAMREVIEW_COMPLETE="complete_bash", COMP_WORDS="kamreview cycle st", COMP_CWORD="2")
    assert words.returncode == 0 and words.stdout.split() == ["start", "status"]
