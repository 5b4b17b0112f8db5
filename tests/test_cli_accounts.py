"""`kamreview people list|invite|disable` against the real servers; the invitation goes out over real SMTP."""

from __future__ import annotations

import asyncio
import json

import psycopg

from activities.delivery import DeliverySetup
from notify.channels import SmtpCourier
from notify.render import render
from services.settings import MailSettings
from tests.helpers import eventually, seed_org
from tests.notify.smtp_server import SmtpTestServer
from tests.test_cli import cli  # noqa: F401 - the fixture
from worker import running_worker


async def test_people_invite_list_and_disable(cli, db_url, client, task_queue):  # noqa: F811
    seed_org(db_url, kams=2, managers=1)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE employee SET email = lower(id) || '@acme.example' WHERE id <> 'K02'")
    with SmtpTestServer() as smtp:
        courier = SmtpCourier(MailSettings(smtp_host=smtp.host, smtp_port=smtp.port, mail_from="hr@acme.example"))
        setup = DeliverySetup(mail=courier, chat={}, render=render, base_url="https://review.example.com")
        async with running_worker(client, db_url, task_queue, setup=setup):
            usage = await asyncio.to_thread(cli, "people", "invite")
            assert usage.returncode == 2 and "or pass --all" in usage.stderr
            unknown = await asyncio.to_thread(cli, "people", "invite", "K99")
            assert unknown.returncode == 3 and "K99" in unknown.stderr

            done = await asyncio.to_thread(cli, "people", "invite", "--all")
            assert done.returncode == 0, done.stderr
            assert "skipped K02: K02 has no e-mail address on file" in done.stdout
            assert "invited: HR1, K01, M1, PAY1" in done.stdout

            async def delivered() -> bool:
                return {r for m in smtp.received for r in m.rcpt_tos} >= {"k01@acme.example", "m1@acme.example"}

            await eventually(delivered, timeout=30)
            assert "https://review.example.com/password#" in next(
                m.message for m in smtp.received if "k01@acme.example" in m.rcpt_tos
            ).get_body(preferencelist=("plain",)).get_content()

        listed = json.loads((await asyncio.to_thread(cli, "people", "list", "--json")).stdout)["people"]
        by_id = {p["employee_id"]: p for p in listed}
        assert by_id["K01"]["status"] == "invited" and by_id["M1"]["roles"] == ["manager"]
        assert by_id["K02"]["status"] == "none"

        off = await asyncio.to_thread(cli, "people", "disable", "K01", "K02")
        assert off.returncode == 0 and "disabled: K01" in off.stdout and "skipped K02: K02 has no sign-in" in off.stdout
        table = (await asyncio.to_thread(cli, "people", "list", "--status", "disabled")).stdout
        assert "K01" in table and "M1" not in table
        with psycopg.connect(db_url) as conn:
            actors = conn.execute("SELECT DISTINCT actor FROM audit_log WHERE action LIKE 'account.%'").fetchall()
        assert actors == [("HR1",)]


async def test_import_invites_everyone_new_when_configured(cli, db_url, client, task_queue):  # noqa: F811
    from tests.test_cli import DEMO

    files = [str(DEMO / name) for name in ("org.csv", "accounts.csv", "kpis.csv")]
    with SmtpTestServer() as smtp:
        courier = SmtpCourier(MailSettings(smtp_host=smtp.host, smtp_port=smtp.port, mail_from="hr@example.com"))
        setup = DeliverySetup(mail=courier, chat={}, render=render, base_url="https://review.example.com")
        async with running_worker(client, db_url, task_queue, setup=setup):
            done = await asyncio.to_thread(cli, "import", *files, KAMREVIEW_WEB_INVITE_ON_IMPORT="true")
            assert done.returncode == 0, done.stderr
            assert ", K06, K08, " in done.stdout  # K07 left on 2026-09-10: not invited
            with psycopg.connect(db_url) as conn:
                people = conn.execute("SELECT count(*) FROM employee WHERE termination_date IS NULL").fetchone()[0]
                roles = dict(conn.execute("SELECT username, roles FROM web_user").fetchall())
            assert len(roles) == people and roles["M1"] == ["manager"] and roles["K01"] == ["employee"]
            assert "K07" not in roles and roles["HR1"] == ["hr"] and roles["PAY1"] == ["payroll"]

            async def delivered() -> bool:
                return len(smtp.received) == people

            await eventually(delivered, timeout=60)
            again = await asyncio.to_thread(cli, "import", *files, KAMREVIEW_WEB_INVITE_ON_IMPORT="true")
            assert "invited to sign in: nobody new" in again.stdout  # a re-import invites nobody twice
