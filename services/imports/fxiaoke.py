"""Fxiaoke (纷享销客) Excel exports: the .xlsx a list view's 导出 writes for 客户 (AccountObj), 联系人 (ContactObj),
商机 (the opportunity object), 销售订单 (SalesOrderObj) and 工单 (service tickets): one sheet, the fields' Chinese
labels as the header (a title row above it is skipped), lookups as the related record's name (客户名称), owners
as the person's name (负责人), dates as real spreadsheet dates. Read with openpyxl in read-only mode.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from domain.text import tr
from services.imports.crm_common import CrmReader


class FxiaokeReader(CrmReader):
    source = "fxiaoke"
    title = "Fxiaoke"

    def raw_rows(self, path: Path) -> list[tuple[int, list[Any]]] | None:
        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except FileNotFoundError as err:
            self.issues.add(path.name, 0, "*", tr("cannot read file: %(reason)s", reason=str(err.strerror or err)))
            return None
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as err:
            self.issues.add(path.name, 0, "*", tr("not an Excel workbook (.xlsx): %(reason)s", reason=str(err)))
            return None
        try:
            sheet = workbook.worksheets[0]
            return [(line, list(values)) for line, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
        finally:
            workbook.close()
