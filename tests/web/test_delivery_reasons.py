"""Why a message was not delivered, on the cycle page in HR's language (our own reasons), the API in English."""

from __future__ import annotations

import uuid
from html import unescape

import psycopg

from services.cycles import create_cycle, start_cycle
from tests.helpers import count, cycle_config, eventually


async def test_a_missing_address_is_explained_in_the_readers_language(web):
    cid = f"DLV{uuid.uuid4().hex[:8]}"
    await create_cycle(web.db_url, cycle_config(cid))
    with psycopg.connect(web.db_url) as conn:  # K01 has no address on file (the org import left it out)
        conn.execute("UPDATE employee SET email = NULL WHERE id = 'K01'")
    await start_cycle(web.client, web.db_url, cid, web.task_queue)

    async def failed() -> bool:
        return count(web.db_url, "SELECT count(*) FROM notification WHERE cycle_id = %s AND recipient_id = 'K01' "
                                 "AND status = 'failed' AND last_error_text IS NOT NULL", cid) >= 1

    await eventually(failed)
    hr = await web.login("HR1")
    hr.cookies.set("kr_lang", "zh-CN")
    assert "K01 没有登记邮箱地址，请在组织架构导入中补充" in unescape((await hr.get(f"/hr/cycles/{cid}")).text)
    hr.cookies.set("kr_lang", "en")
    assert "no e-mail address on file for K01; add it in the organisation import" in unescape(
        (await hr.get(f"/hr/cycles/{cid}")).text)
    rows = (await hr.get(f"/api/hr/cycles/{cid}/notifications", params={"status": "failed"})).json()
    mine = [r for r in rows if r["recipient_id"] == "K01"]
    assert mine and mine[0]["last_error"] == "no e-mail address on file for K01; add it in the organisation import"
    assert mine[0]["last_error_text"]["id"].startswith("no e-mail address on file for %(person)s")
