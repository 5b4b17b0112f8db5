"""Employee rosters laid out as Chinese HR suites export them (北森, Moka, 飞书人事, 钉钉智能人事): a title row above the
header, Chinese labels, the department merged over its people (openpyxl's read-only mode sees the merged cell's
value in its first row only), real Excel date cells next to text dates, a 离职 employee."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook

HEADER = ["序号", "工号", "姓名", "部门", "岗位", "职级", "直属上级工号", "直属上级", "入职日期", "离职日期", "员工状态",
          "工作地点", "成本中心", "手机号", "工作邮箱"]


def person(eid: str, name: str, title: str, manager: str = "", manager_name: str = "", *, dept: str = "销售中心",
           hired: Any = date(2020, 1, 1), left: Any = None, status: str = "在职", grade: str = "K2",
           region: str = "华东", cost: str = "CC-100", mobile: str = "", email: str | None = None) -> dict[str, Any]:
    return {"工号": eid, "姓名": name, "部门": dept, "岗位": title, "职级": grade, "直属上级工号": manager,
            "直属上级": manager_name, "入职日期": hired, "离职日期": left, "员工状态": status, "工作地点": region,
            "成本中心": cost, "手机号": mobile, "工作邮箱": email if email is not None else f"{eid.lower()}@example.com"}


def roster_xlsx(path: Path, people: list[dict[str, Any]], header: list[str] = HEADER,
                merge: tuple[str, ...] = ("部门", "工作地点")) -> Path:
    """The roster as an .xlsx: title row, a blank row, the header on row 3; runs of one value in ``merge``'s
    columns (the department, the location) merged, as HR tidies a roster before sending it."""
    book = Workbook()
    sheet = book.active
    sheet.title = "花名册"
    sheet.append([f"员工花名册（导出时间：{datetime(2026, 9, 1, 10, 0):%Y-%m-%d %H:%M}）"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append([])
    sheet.append(header)
    for n, p in enumerate(people, start=1):
        sheet.append([n if column == "序号" else p.get(column) for column in header])
    for label in (m for m in merge if m in header):
        column = header.index(label) + 1
        start = 4
        for row in range(5, 4 + len(people) + 1):
            same = row < 4 + len(people) and sheet.cell(row, column).value == sheet.cell(start, column).value
            if not same:
                if row - 1 > start:
                    sheet.merge_cells(start_row=start, start_column=column, end_row=row - 1, end_column=column)
                start = row
    book.save(path)
    return path


def roster_csv(path: Path, people: list[dict[str, Any]], encoding: str = "gb18030",
               header: list[str] = HEADER) -> Path:
    """The roster as CSV the way Chinese Excel saves it (GB18030 by default), dates written as text."""
    def cell(value: Any) -> str:
        return "" if value is None else value.strftime("%Y/%-m/%-d") if isinstance(value, date) else str(value)

    lines = [",".join(header)]
    lines += [",".join(str(n) if c == "序号" else cell(p.get(c)) for c in header) for n, p in enumerate(people, 1)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path
