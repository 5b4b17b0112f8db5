"""The HR command line: clear messages and non-zero exits for mistakes, never a traceback."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"


@pytest.fixture
def cli(db_url, client, task_queue, tmp_path):
    """Run starter.py against the test servers (both configured, so nothing is started)."""
    env = os.environ | {
        "KAMREVIEW_DATABASE_URL": db_url,
        "KAMREVIEW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "KAMREVIEW_TASK_QUEUE": task_queue,
        "KAMREVIEW_DATA_DIR": str(tmp_path / "data"),
    }

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, str(ROOT / "starter.py"), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)
        assert "Traceback" not in proc.stderr + proc.stdout
        return proc

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
    ("args", "expected"),
    [
        (("cycle", "start", "NOPE"), "cycle NOPE does not exist"),
        (("cycle", "status", "NOPE"), "cycle NOPE does not exist"),
        (("cycle", "cancel", "NOPE", "--reason", "reorganisation"), "cycle NOPE does not exist"),
        (("cycle", "cancel", "NOPE"), "--reason"),
        (("payroll", "export", "NOPE"), "cycle NOPE does not exist"),
        (("calibration", "adjust", "NOPE", "K01", "4", "--reason", "x"), "cycle NOPE is not running"),
        # An empty database: the default actor PAY1 is nobody yet (test_payroll_approval.py: once imported).
        (("payouts", "approve", "NOPE"), "PAY1 may not approve payouts"),
        (("submit", "self-review", "NOPE", "K01", "--ratings", "communication=x"), "communication must be a whole number"),
    ],
)
def test_user_mistakes_exit_non_zero_with_a_message(cli, args, expected):
    proc = cli(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr


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
