"""The upload store behind HR's import page: content-addressed, so an upload cannot change under its id; names
are the files' own (problems cite them) but never a path; old uploads go away."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from services.errors import NotFound, Rejected
from services.import_uploads import KEEP_SECONDS, UploadStore, safe_name


def test_the_same_files_are_the_same_upload_and_any_change_is_another(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    one = store.save("zoho", [("Accounts.csv", b"a"), ("Deals.csv", b"d")])
    assert store.save("zoho", [("Accounts.csv", b"a"), ("Deals.csv", b"d")]).id == one.id
    assert one.names == ["Accounts.csv", "Deals.csv"] and [p.read_bytes() for p in one.files] == [b"a", b"d"]
    others = {store.save("zoho", [("Accounts.csv", b"A"), ("Deals.csv", b"d")]).id,
              store.save("fxiaoke", [("Accounts.csv", b"a"), ("Deals.csv", b"d")]).id,
              store.save("zoho", [("Accounts.csv", b"a"), ("Deals.csv", b"d")], ("m.yaml", b"x")).id,
              store.save("zoho", [("Accounts2.csv", b"a"), ("Deals.csv", b"d")]).id}
    assert one.id not in others and len(others) == 4
    assert store.load(one.id).files == one.files


def test_names_are_files_not_paths_and_unique() -> None:
    taken: set[str] = set()
    assert safe_name("../../etc/passwd", taken) == "passwd"
    assert safe_name("C:\\Users\\hr\\客户 导出.xlsx", taken) == "客户 导出.xlsx"
    assert safe_name("passwd", taken) == "passwd-2" and safe_name("", taken) == "file"


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    for source, files, mapping in (("sap", [("a.csv", b"x")], None), ("zoho", [], None),
                                   ("zoho", [(f"{i}.csv", b"x") for i in range(13)], None),
                                   ("csv", [("ORG.csv", b"x")], ("m.yaml", b"x"))):
        with pytest.raises(Rejected):
            store.save(source, files, mapping)
    for upload_id in ("../etc", "0" * 32, "", "A" * 32):
        with pytest.raises(NotFound):
            store.load(upload_id)


def test_uploads_unused_for_a_day_are_removed_on_the_next_save(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    old = store.save("zoho", [("Accounts.csv", b"old")])
    stale = time.time() - KEEP_SECONDS - 60
    os.utime(tmp_path / old.id, (stale, stale))
    store.save("zoho", [("Accounts.csv", b"new")])
    with pytest.raises(NotFound):
        store.load(old.id)
