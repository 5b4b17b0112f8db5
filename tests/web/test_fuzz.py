"""API fuzzing from the app's own OpenAPI document (schemathesis): no input gives a server error.

Every operation is fuzzed with valid-looking (positive) and invalid (negative) requests, signed in
as the role its tag names so the input gets past the permission check, once with generated path
parameters and once with a real cycle and employee so it reaches the workflows and the database.
Examples are derandomized and few per operation, to keep the run bounded (well under a minute).
"""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.web.helpers import open_live_cycle, password_of

SIGNED_IN_AS = {"hr": "HR1", "manager": "M1", "employee": "K01", "payroll": "PAY1", "session": "K02", "trends": "HR1"}
EXAMPLES = 8


def _session(base_url: str, username: str) -> tuple[dict[str, str], dict[str, str]]:
    with httpx.Client(base_url=base_url) as http:
        r = http.post("/api/session", json={"username": username, "password": password_of(username)})
        r.raise_for_status()
        return {"X-CSRF-Token": r.json()["csrf_token"]}, {"kr_session": http.cookies["kr_session"]}


def test_no_input_makes_a_server_error(live, db_url, web_org):
    import schemathesis
    from schemathesis import GenerationMode

    cid = open_live_cycle(live, db_url, web_org)
    spec = httpx.get(f"{live.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    auth = {tag: _session(live.url, user) for tag, user in SIGNED_IN_AS.items()}
    failures: list[str] = []
    calls = [0]

    def fuzzer(op, mode, strategy, headers: dict[str, str], cookies: dict[str, str]):
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def fuzz(case) -> None:
            case.headers = {**(case.headers or {}), **headers}
            case.cookies = {**(case.cookies or {}), **cookies}
            response = case.call(base_url=live.url, timeout=30)
            calls[0] += 1
            if response.status_code >= 500:
                failures.append(f"{op.method.upper()} {op.path} ({mode.value}): {response.status_code} "
                                f"{response.text[:200]} for {case.path_parameters} {case.query} {str(case.body)[:200]}")
            elif op.path.startswith("/api/") and response.status_code >= 400:
                body = response.json()
                if not isinstance(body.get("detail"), str) or not body["detail"]:
                    failures.append(f"{op.method.upper()} {op.path}: {response.status_code} without a message")

        return fuzz

    for result in schema.get_all_operations():
        op = result.ok()
        tags = op.definition.raw.get("tags", [])
        headers, cookies = auth.get(tags[0], ({}, {})) if tags else ({}, {})
        params = {k: v for k, v in (("cycle_id", cid), ("employee_id", "K01")) if f"{{{k}}}" in op.path}
        variants = [(mode, None) for mode in GenerationMode] + ([(GenerationMode.POSITIVE, params),
                                                                 (GenerationMode.NEGATIVE, params)] if params else [])
        for mode, path_parameters in variants:
            strategy = op.as_strategy(mode, path_parameters=path_parameters) if path_parameters else op.as_strategy(mode)
            try:
                fuzzer(op, mode, strategy, headers, cookies)()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE, f"{op.method} {op.path}: no valid request could be generated"
    assert not failures, "\n".join(failures[:20])
    assert calls[0] > 200
