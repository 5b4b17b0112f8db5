"""The CLI's pieces without servers: CJK-aware tables, the one exit-code mapping, JSON values, the actor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from rich.cells import cell_len

from cli.common import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE, exit_code, jsonable, resolve_actor
from domain.errors import DomainError
from domain.text import tr
from services.console import table
from services.errors import Conflict, Forbidden, NotFound, Rejected, TryLater, UserError


def test_table_columns_line_up_by_display_width_with_chinese_names():
    text = table(["id", "name", "amount"], [("K01", "王芳", "1,000.00"), ("K02", "Sarah Thompson", "5.00"),
                                             ("K03", "欧阳娜娜（销售）", "12.50")], right=(2,))
    lines = text.splitlines()
    assert len(lines) == 5  # header, rule, three rows
    rows = [lines[0], *lines[2:]]
    assert len({cell_len(line) for line in rows}) == 1, text  # right-aligned last column: equal display width
    assert len({cell_len(line[:line.index(word)]) for line, word in  # the left-aligned one starts in one place
                zip(rows, ["name", "王芳", "Sarah", "欧阳"], strict=True)}) == 1
    assert "王芳" in lines[2] and all(line == line.rstrip() for line in lines)


@pytest.mark.parametrize(("err", "code"), [
    (UserError("x"), EXIT_USAGE), (Rejected("x"), EXIT_USAGE), (NotFound("x"), EXIT_NOT_FOUND),
    (Conflict("x"), EXIT_REFUSED), (Forbidden("x"), EXIT_REFUSED), (TryLater("x"), EXIT_UNAVAILABLE),
    (DomainError(tr("an id must not be empty")), EXIT_USAGE),
])
def test_each_kind_of_refusal_has_its_exit_code(err, code):
    assert exit_code(err) == code


def test_temporal_refusals_passed_on_keep_their_kind():
    from temporalio.exceptions import ApplicationError

    from workflows.common import refuse

    assert exit_code(refuse("closed", conflict=True)) == EXIT_REFUSED
    assert exit_code(refuse("bad")) == EXIT_USAGE
    wrapped = RuntimeError("update failed")
    wrapped.__cause__ = ApplicationError("closed", type="Conflict")
    assert exit_code(wrapped) == EXIT_REFUSED
    assert exit_code(RuntimeError("bug")) == 1


def test_json_values_are_exact_and_carry_their_offset():
    value = {"amount": Decimal("18750.00"), "at": datetime(2026, 7, 1, 9, tzinfo=timezone(timedelta(hours=8))),
             "utc": datetime(2026, 7, 1, tzinfo=UTC), "pair": (1, None)}
    assert json.loads(json.dumps(jsonable(value))) == {
        "amount": "18750.00", "at": "2026-07-01T09:00:00+08:00", "utc": "2026-07-01T00:00:00+00:00", "pair": [1, None]}
    assert jsonable({"why": tr("cycle %(cycle)s does not exist", cycle="X")}) == {"why": "cycle X does not exist"}


def test_the_actor_comes_from_the_setting_then_the_user_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    with pytest.raises(UserError, match="KAMREVIEW_ACTOR"):
        resolve_actor(None)
    path = tmp_path / "kamreview" / "config.toml"
    path.parent.mkdir()
    path.write_text('actor = "HR2"\n', encoding="utf-8")
    assert resolve_actor(None) == "HR2"
    assert resolve_actor("HR1") == "HR1"  # KAMREVIEW_ACTOR wins over the file
    with pytest.raises(UserError, match="KAMREVIEW_ACTOR: 'HR 1' is not a valid id"):
        resolve_actor("HR 1")
    path.write_text("actor = [", encoding="utf-8")
    with pytest.raises(UserError, match="not valid TOML"):
        resolve_actor(None)


def test_temporalio_logs_go_to_the_worker_log_not_between_the_lines(tmp_path, monkeypatch):
    import logging

    from cli.app import worker_log
    from services.settings import get_settings

    monkeypatch.setenv("KAMREVIEW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    temporal = logging.getLogger("temporalio")
    handlers, propagate = list(temporal.handlers), temporal.propagate
    try:
        worker_log()
        temporal.warning("activity attempt 2 failed")
        for handler in temporal.handlers:
            handler.flush()
        assert "activity attempt 2 failed" in (tmp_path / "kamreview-worker.log").read_text(encoding="utf-8")
        assert temporal.propagate is False
    finally:
        for handler in temporal.handlers[len(handlers):]:
            handler.close()
        temporal.handlers[:], temporal.propagate = handlers, propagate
        get_settings.cache_clear()


def test_a_temporal_server_that_stops_answering_is_said_plainly(capsys, monkeypatch):
    """A dev server left running by a deleted checkout still holds the port but answers nothing: the demo used to end
    in "internal error (RPCError: Timeout expired)". Now the message says which server and what to do."""
    from cli.common import report
    from services.settings import get_settings

    monkeypatch.delenv("KAMREVIEW_TEMPORAL_ADDRESS", raising=False)
    monkeypatch.setenv("KAMREVIEW_TEMPORAL_PORT", "7299")
    get_settings.cache_clear()
    try:
        _check_unanswered(report, get_settings, capsys, monkeypatch)
    finally:
        get_settings.cache_clear()


def _check_unanswered(report, get_settings, capsys, monkeypatch) -> None:  # noqa: ANN001
    from temporalio.service import RPCError, RPCStatusCode

    for err in (RPCError("Timeout expired", RPCStatusCode.CANCELLED, b""),  # the client's deadline (tonic's words)
                RPCError("deadline exceeded", RPCStatusCode.DEADLINE_EXCEEDED, b"")):
        assert report(err) == EXIT_UNAVAILABLE
        said = capsys.readouterr().err
        assert said.startswith("error: Temporal at 127.0.0.1:7299 (the embedded dev server) did not answer in time ("), said
        assert "workers" in said and "servers stop" in said and "internal error" not in said and "Traceback" not in said
    assert report(RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")) == EXIT_UNAVAILABLE
    assert capsys.readouterr().err.startswith("error: cannot reach Temporal at 127.0.0.1:7299 (the embedded dev server)")
    monkeypatch.setenv("KAMREVIEW_TEMPORAL_ADDRESS", "temporal.example.com:7233")
    get_settings.cache_clear()
    assert report(RPCError("Timeout expired", RPCStatusCode.DEADLINE_EXCEEDED, b"")) == EXIT_UNAVAILABLE
    said = capsys.readouterr().err
    assert "temporal.example.com:7233 (KAMREVIEW_TEMPORAL_ADDRESS)" in said and "servers stop" not in said, said
