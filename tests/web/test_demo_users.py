"""The demo organisation's sign-ins (listed in the README) exist after the import and work."""

from __future__ import annotations

from services.importer import import_files
from services.users import DEMO_PASSWORDS, fast_test_hasher, seed_demo_users
from tests.helpers import ROOT, count


async def test_demo_users_match_the_readme_and_can_sign_in(db_url, client, task_queue):
    demo = ROOT / "demo"
    import_files(db_url, demo / "org.csv", demo / "accounts.csv", demo / "kpis.csv")
    users = seed_demo_users(db_url, hasher=fast_test_hasher())
    assert len(users) == 26
    assert {u.username: u.role for u in users if not u.username.startswith("K")} == {
        "HR1": "hr", "PAY1": "payroll", "M1": "manager", "M2": "manager", "M3": "manager", "M4": "manager"}
    assert all(u.role == "employee" for u in users if u.username.startswith("K"))
    assert seed_demo_users(db_url, hasher=fast_test_hasher()) == users  # again: nothing changes
    assert count(db_url, "SELECT count(*) FROM web_user") == 26

    import httpx

    from tests.web.helpers import settings_for_tests
    from webapp.app import create_app

    app = create_app(db_url, client, task_queue, settings_for_tests(), pool_size=2)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        for username, role in (("HR1", "hr"), ("PAY1", "payroll"), ("M4", "manager"), ("K20", "employee")):
            r = await http.post("/api/session", json={"username": username, "password": DEMO_PASSWORDS[role]})
            assert r.status_code == 200 and r.json()["roles"] == [role], r.text


def test_the_users_command_sets_a_password_from_stdin_and_refuses_bad_input(db_url, web_org):
    import os
    import subprocess
    import sys

    env = os.environ | {"KAMREVIEW_DATABASE_URL": db_url}

    def run(*args: str, password: str = "a-long-enough-secret\n") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "webapp.users", "set", *args, "--password-stdin"], input=password,
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)

    ok = run("lead", "--roles", "hr,payroll")
    assert ok.returncode == 0 and "lead can sign in now" in ok.stdout, ok.stderr
    assert "a-long-enough-secret" not in ok.stdout + ok.stderr
    assert count(db_url, "SELECT cardinality(roles) FROM web_user WHERE username = 'lead'") == 2
    short = run("lead", "--roles", "hr", password="short\n")
    assert short.returncode == 2 and "10 to 256 characters" in short.stderr
    nobody = run("ghost", "--roles", "manager")
    assert nobody.returncode == 2 and "need the user's employee id" in nobody.stderr
    unknown = run("x1", "--roles", "manager", "--employee", "NOPE")
    assert unknown.returncode == 2 and "employee NOPE does not exist" in unknown.stderr
    bad_role = run("x2", "--roles", "admin")
    assert bad_role.returncode == 2 and "roles must be some of" in bad_role.stderr
