"""An HR system's employee roster (花名册) as the org: the .xlsx or CSV that 北森 Beisen, Moka, 飞书人事, 钉钉智能人事 or a
Workday-like suite exports, read into the same EmployeeRecords as the project's ORG.csv, so the one validation, the
preview with its org changes, the writer and the running-cycle org changes apply unchanged (docs/hr-exports.md).

The header (Chinese or English labels) is found in the first rows, below any title rows; a mapping YAML
(``--mapping hr.yaml``) says which column means what and which job titles are which role, validated as the CRM
mapping is: unknown keys refused, each problem named by its field path. Problems name file, row and the column as
the HR system labels it (``花名册.xlsx:7:直属上级工号: ...``).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from domain.text import Text, tr
from domain.validation import error_text
from services.errors import Rejected
from services.imports.cells import Cells, csv_rows, read_bytes
from services.imports.crm_common import HEADER_SEARCH_ROWS, _text, cell_date
from services.imports.issues import Issues
from services.imports.pipeline import plan_records, write_records
from services.imports.preview import ImportPreview, build_preview
from services.imports.project_csv import _MOBILE, LABEL_MAX
from services.imports.records import EmployeeRecord, RecordSet
from services.imports.writer import ImportSummary

Role = Literal["kam", "manager", "hr", "payroll", "other"]

#: Column labels per field, the first one present in the header is used (matched ignoring case). Chinese labels as
#: the common Chinese HR suites' roster exports write them, English ones as Workday-like exports do.
COLUMNS: dict[str, list[str]] = {
    "id": ["工号", "员工编号", "员工工号", "人员编号", "Employee ID", "Employee Number", "Worker ID"],
    "name": ["姓名", "员工姓名", "Worker", "Employee Name", "Name", "Full Name"],
    "email": ["工作邮箱", "企业邮箱", "邮箱", "Email", "Work Email", "Email Address"],
    "mobile": ["手机号", "手机", "手机号码", "Mobile", "Mobile Phone", "Phone"],
    "manager_id": ["直属上级工号", "汇报对象工号", "直接上级工号", "直属主管工号", "上级工号", "Manager ID",
                   "Manager Employee ID", "Supervisor ID"],
    "manager_name": ["直属上级", "汇报对象", "直接上级", "直属主管", "Manager", "Manager Name", "Supervisor"],
    "grade": ["职级", "职等", "Grade", "Job Level", "Job Grade"],
    "hire_date": ["入职日期", "入职时间", "Hire Date", "Start Date"],
    "termination_date": ["离职日期", "最后工作日", "离职时间", "Termination Date", "Last Day of Work"],
    "status": ["员工状态", "在职状态", "人员状态", "Employee Status", "Worker Status", "Status"],
    "department": ["部门", "所属部门", "主部门", "Department", "Supervisory Organization"],
    "department_path": ["部门路径", "部门全路径", "组织路径", "Department Path"],
    "region": ["工作地点", "区域", "办公地点", "工作城市", "Location", "Work Location", "Region"],
    "cost_centre": ["成本中心", "Cost Center", "Cost Centre"],
    "title": ["岗位", "职位", "职务", "岗位名称", "Job Title", "Business Title", "Position"],
    "timezone": ["时区", "Time Zone"],
    "locale": ["语言", "Locale"],
    "currency": ["币种", "薪资币种", "Currency"],
}
REQUIRED = ("id", "name", "title")

#: Job title -> role. A title is looked up exactly first, then by the longest of these it contains, so
#: 华东区大客户经理 is a KAM and 人力资源专员 HR. Matched ignoring case; the mapping file adds and overrides entries.
ROLE_TITLES: dict[str, Role] = {
    "大客户经理": "kam", "客户经理": "kam", "KAM": "kam", "Key Account Manager": "kam",
    "销售经理": "manager", "销售总监": "manager", "大区经理": "manager", "Sales Manager": "manager",
    "Sales Director": "manager",
    "HRBP": "hr", "人力资源": "hr", "人事": "hr", "HR": "hr", "Human Resources": "hr",
    "薪酬": "payroll", "薪资": "payroll", "Payroll": "payroll",
}
LEFT_STATUSES = ["离职", "已离职", "Terminated", "Inactive"]
FILL_DOWN = ["department", "department_path", "region", "cost_centre"]
BLANK_VALUES = ["-", "--", "—", "/", "N/A"]
"""What some exports write into an empty field (飞书人事 and others show "--"): read as an empty cell."""
_MANAGER_WITH_ID = re.compile(r"^(.*?)\s*[(（]\s*([^()（）]+?)\s*[)）]$")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: dict[str, Role | None] = Field(default_factory=dict, description="job title -> role (null removes one)")
    default_role: Role | None = "other"
    promote_managers: bool = True
    left_statuses: list[str] = Field(default_factory=lambda: list(LEFT_STATUSES))
    fill_down: list[Literal["department", "department_path", "region", "cost_centre", "grade", "title"]] = Field(
        default_factory=lambda: list(FILL_DOWN))
    department_as: Literal["region", "cost_centre"] | None = None
    blank_values: list[str] = Field(default_factory=lambda: list(BLANK_VALUES))
    timezone: str = Field(default="Asia/Shanghai", pattern=r"^[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)*$")
    locale: str = Field(default="zh-CN", pattern=r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    date_order: Literal["YMD", "MDY", "DMY"] = "YMD"


_COLUMNS_MODEL = create_model("hr_columns", __config__=ConfigDict(extra="forbid"),
                              **{name: (str | list[str] | None, None) for name in COLUMNS})
_MODEL = create_model("hr_mapping", __base__=_Base, columns=(_COLUMNS_MODEL | None, None))


class HrMapping:
    """The mapping in force: the defaults with a mapping file's overrides applied."""

    def __init__(self, settings: _Base, file: str | None = None) -> None:
        self.settings = settings
        self.file = file
        self.columns = {name: list(labels) for name, labels in COLUMNS.items()}
        given = getattr(settings, "columns", None)
        for name, labels in (given.model_dump(exclude_none=True) if given is not None else {}).items():
            self.columns[name] = [labels] if isinstance(labels, str) else list(labels)
        table: dict[str, Role | None] = {k.casefold(): v for k, v in ROLE_TITLES.items()}
        table.update({k.casefold(): v for k, v in settings.roles.items()})
        self.roles: dict[str, Role] = {k: v for k, v in table.items() if v is not None}
        self.left = {s.casefold() for s in settings.left_statuses}

    def role(self, title: str) -> Role | None:
        """The role a job title means: exactly, else the longest title of the table it contains."""
        key = title.casefold()
        if key in self.roles:
            return self.roles[key]
        hits = [k for k in self.roles if k in key]
        return self.roles[max(hits, key=len)] if hits else None


def load_hr_mapping(path: Path | None = None, *, text: str | None = None, name: str | None = None) -> HrMapping:
    """The defaults, overridden by the YAML file at ``path`` (or ``text``), refused with every problem named."""
    from services.cycles import parse_yaml_mapping, read_yaml_file  # the cycle YAML's reader: same messages

    data: dict[str, Any] = {}
    if path is not None:
        name = str(path)
        text = read_yaml_file(Path(path))
    if text is not None:
        name = name or "mapping"
        data = parse_yaml_mapping(text, name)
    try:
        settings = _MODEL.model_validate(data)
    except ValidationError as err:
        lines = [tr("  %(field)s: %(problem)s", field=".".join(str(p) for p in e["loc"]) or tr("(top level)"),
                    problem=error_text(e)) for e in err.errors()]
        raise Rejected(tr("%(file)s: the HR export mapping is invalid (%(count)s problem(s)):\n%(problems)s",
                          file=name or "mapping", count=str(err.error_count()), problems=lines)) from None
    _check_zone(settings.timezone)
    return HrMapping(settings, name)


def _check_zone(zone: str) -> None:
    from services.imports.cells import _is_time_zone

    if not _is_time_zone(zone):
        raise Rejected(tr("unknown time zone '%(value)s' (expected an IANA zone, e.g. Asia/Shanghai)", value=zone))


# ----------------------------------------------------------------------------------------------- reading


@dataclass
class HrExport:
    """What reading one export gave: the records, and notes to show with the preview (the CSV's encoding)."""

    records: RecordSet
    notes: list[Text] = field(default_factory=list)


def read_hr_export(path: Path, mapping: HrMapping, issues: Issues) -> HrExport:
    """The roster as a RecordSet with only its org (problems go to ``issues``)."""
    path = Path(path)
    notes: list[Text] = []
    records = RecordSet(org_file=path.name, source="hr")
    lines = _raw_rows(path, issues, notes)
    if lines is None:
        records.org_usable = False
        return HrExport(records, notes)
    rows = _table(path.name, lines, mapping, issues)
    if rows is None:
        records.org_usable = False
        return HrExport(records, notes)
    labels, cells = rows
    records.org_labels = {"manager_id": labels.get("manager_id") or labels.get("manager_name") or "manager_id",
                          "role": labels.get("title", "role")}
    _records(cells, mapping, records)
    return HrExport(records, notes)


def _raw_rows(path: Path, issues: Issues, notes: list[Text]) -> list[tuple[int, list[Any]]] | None:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path, issues)
    if suffix == ".xls":
        issues.add(path.name, 0, "*", tr("an old Excel .xls file cannot be read: open it in Excel or WPS and save it "
                                         "as .xlsx (or CSV)"))
        return None
    data = read_bytes(path, issues)
    if data is None:
        return None
    if data.startswith(b"PK\x03\x04"):  # a workbook named .csv
        return _xlsx_rows(path, issues)
    try:
        text = data.decode("utf-8-sig")
        notes.append(tr("%(file)s was read as UTF-8 (with a byte-order mark)", file=path.name)
                     if data.startswith(b"\xef\xbb\xbf") else tr("%(file)s was read as UTF-8", file=path.name))
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            issues.add(path.name, line, "*", tr("neither UTF-8 nor GB18030 (byte 0x%(byte)s); save the file as "
                                                "CSV UTF-8", byte=format(data[err.start], "02x")))
            return None
        notes.append(tr("%(file)s was read as GB18030 (as Chinese Excel saves CSV)", file=path.name))
    found = csv_rows(path.name, text, issues)
    return [(line, list(cells)) for line, cells in found] if found is not None else None


def _xlsx_rows(path: Path, issues: Issues) -> list[tuple[int, list[Any]]] | None:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError as err:
        issues.add(path.name, 0, "*", tr("cannot read file: %(reason)s", reason=str(err.strerror or err)))
        return None
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as err:
        issues.add(path.name, 0, "*", tr("not an Excel workbook (.xlsx): %(reason)s", reason=str(err)))
        return None
    try:
        sheet = workbook.worksheets[0]
        return [(line, list(values)) for line, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        workbook.close()


def _table(name: str, lines: list[tuple[int, list[Any]]], mapping: HrMapping,
           issues: Issues) -> tuple[dict[str, str], list[Cells]] | None:
    """The header (the first row naming an id and a name column) and the data rows below it, by field."""
    def present(header: list[str], field_name: str) -> bool:
        keys = {cell.casefold() for cell in header}
        return any(label.casefold() in keys for label in mapping.columns[field_name])

    headers = [[_text(v).strip() for v in values] for _, values in lines[:HEADER_SEARCH_ROWS]]
    at = next((i for i, cells in enumerate(headers) if present(cells, "id") and present(cells, "name")), None)
    if at is None:
        issues.add(name, 1, "*", tr(
            "no header row found in the first %(rows)s rows: it must name an employee id column (%(id)s) and a name "
            "column (%(name)s)", rows=str(HEADER_SEARCH_ROWS), id=", ".join(mapping.columns["id"][:3]),
            name=", ".join(mapping.columns["name"][:3])))
        return None
    header_line, header = lines[at][0], headers[at]
    mapped = {label.casefold() for labels in mapping.columns.values() for label in labels}
    position: dict[str, int] = {}
    for i, cell in enumerate(header):
        key = cell.casefold()
        if key in position and key in mapped:
            issues.add(name, header_line, cell, tr("duplicate column '%(column)s'", column=cell))
            return None
        position.setdefault(key, i)
    fields: dict[str, tuple[int, str]] = {}
    for field_name, labels in mapping.columns.items():
        hit = next((label for label in labels if label.casefold() in position), None)
        if hit is not None:
            fields[field_name] = (position[hit.casefold()], header[position[hit.casefold()]])
    missing = [f for f in REQUIRED if f not in fields]
    for field_name in missing:
        label = mapping.columns[field_name][0] if mapping.columns[field_name] else field_name
        issues.add(name, header_line, label, tr("missing required column '%(column)s'", column=label))
    if missing:
        return None
    labels = {field_name: label for field_name, (_, label) in fields.items()}
    fill = set(mapping.settings.fill_down)
    blank = {v.casefold() for v in mapping.settings.blank_values}
    above: dict[str, tuple[str, Any]] = {}
    rows: list[Cells] = []
    for line, values in lines[at + 1:]:
        if not any(_text(v).strip() for v in values):
            continue  # blank line
        written = {f: _text(values[i]) if i < len(values) else "" for f, (i, _) in fields.items()}
        typed = {f: values[i] if i < len(values) else None for f, (i, _) in fields.items()}
        for f in [f for f, v in written.items() if v.strip().casefold() in blank]:
            written[f], typed[f] = "", None
        for f in fill & fields.keys():  # a merged cell: only its first row holds the value
            if written[f].strip():
                above[f] = (written[f], typed[f])
            elif f in above:
                written[f], typed[f] = above[f]
        rows.append(Cells(issues, name, line, {k: v.strip() for k, v in written.items()}, written, labels=labels,
                          typed=typed))
    return labels, rows


# ----------------------------------------------------------------------------------------------- records


@dataclass
class _Row:
    cells: Cells
    record: EmployeeRecord
    titled: bool
    """Whether the role came from the job title (not the default role)."""
    left: bool
    manager_name: str | None


def _records(rows: list[Cells], mapping: HrMapping, records: RecordSet) -> None:
    settings = mapping.settings
    read: list[_Row] = []
    for row in rows:
        employee_id = row.ident("id", required=True)
        name = row.text("name", required=True)
        title = row.text("title")
        role = mapping.role(title) if title else None
        titled = role is not None
        if role is None:
            role = settings.default_role
            if role is None:
                row.error("title", tr("job title '%(title)s' is not one of the roles' titles; add it under roles in "
                                      "the mapping file (title: kam, manager, hr, payroll or other)",
                                      title=title or ""))
        status = row.text("status")
        left = status is not None and status.casefold() in mapping.left
        hire_date = cell_date(row, "hire_date", settings.date_order)
        termination_date = cell_date(row, "termination_date", settings.date_order)
        if left and termination_date is None and row.ok:
            row.error("status", tr("%(status)s, but %(column)s is empty: give the leaving date", status=status,
                                   column=row.labels.get("termination_date", "termination_date")))
        if hire_date and termination_date and termination_date < hire_date:
            row.error("termination_date", tr(
                "termination_date %(left)s is before hire_date %(hired)s", left=str(termination_date),
                hired=str(hire_date)))
        manager_id, manager_name = _manager(row)
        mobile = row.text("mobile")
        if mobile is not None and not _MOBILE.fullmatch(mobile):
            row.error("mobile", tr("invalid mobile number '%(value)s' (digits, optionally with + and spaces)",
                                   value=mobile))
        department = _department(row)
        region = _label(row, "region")
        cost_centre = _label(row, "cost_centre")
        if settings.department_as == "region" and region is None:
            region = department
        elif settings.department_as == "cost_centre" and cost_centre is None:
            cost_centre = department
        record = EmployeeRecord(
            row.line, employee_id or "", name, row.email("email"), role, manager_id, row.text("grade"),
            row.currency("currency", settings.currency) if row.has("currency") else settings.currency,
            row.timezone("timezone") if row.has("timezone") else settings.timezone, hire_date, termination_date,
            locale=row.locale("locale", settings.locale), mobile=mobile, region=region, cost_centre=cost_centre)
        if employee_id is None:
            continue
        first = records.employees.get(employee_id)
        if first is not None:
            row.error("id", tr("duplicate %(column)s '%(value)s' (also on line %(line)s of %(file)s)",
                               column=row.label("id"), value=employee_id, line=str(first.line), file=row.file))
            continue
        records.employees[employee_id] = record
        read.append(_Row(row, record, titled, left, manager_name))
    _resolve_managers(read, mapping.columns["manager_id"][0] if mapping.columns["manager_id"] else "manager_id")
    if settings.promote_managers:
        managers = {r.record.manager_id for r in read if r.record.role == "kam"}
        for r in read:
            if not r.titled and r.record.id in managers and r.record.role == "other":
                r.record.role = "manager"
    for r in read:
        if r.record.role == "kam" and not r.record.manager_id and r.cells.ok:
            r.cells.error("manager_id" if "manager_id" in r.cells.labels else "manager_name", tr(
                "KAM '%(kam)s' has no manager (manager_id is required for KAMs)", kam=r.record.id))


def _manager(row: Cells) -> tuple[str | None, str | None]:
    """The manager's id, or their name to resolve once every row is read (``张三(E001)`` gives both)."""
    if row.has("manager_id"):
        return row.ident("manager_id"), None
    written = row.text("manager_name")
    if written is None:
        return None, None
    if m := _MANAGER_WITH_ID.match(written):
        row.cells["manager_id"] = row.raw["manager_id"] = m.group(2)
        row.labels.setdefault("manager_id", row.label("manager_name"))
        return row.ident("manager_id"), None
    return None, written


def _resolve_managers(read: list[_Row], id_column: str) -> None:
    """A manager given by name is the one employee of the file with that name (one still employed, when others
    of that name have left); anything else is reported on the manager's cell."""
    by_name: dict[str, list[_Row]] = {}
    for r in read:
        if r.record.name:
            by_name.setdefault(" ".join(r.record.name.split()).casefold(), []).append(r)
    for r in read:
        if r.manager_name is None:
            continue
        hits = by_name.get(" ".join(r.manager_name.split()).casefold(), [])
        if len(hits) > 1:
            staying = [h for h in hits if not h.left]
            hits = staying if len(staying) == 1 else hits
        if len(hits) == 1:
            if hits[0].record.id == r.record.id:
                r.cells.error("manager_name", tr("employee '%(employee)s' cannot be their own manager",
                                                 employee=r.record.id))
            else:
                r.record.manager_id = hits[0].record.id
        elif hits:
            r.cells.error("manager_name", tr(
                "manager '%(name)s' is ambiguous: several employees have that name (%(ids)s); give the manager's "
                "id instead (a %(column)s column)", name=r.manager_name,
                ids=", ".join(sorted(h.record.id for h in hits)), column=id_column))
        else:
            r.cells.error("manager_name", tr("no employee named '%(name)s' in %(file)s", name=r.manager_name,
                                             file=r.cells.file))
    for r in read:
        if r.record.manager_id is not None and r.record.manager_id == r.record.id and r.manager_name is None:
            r.cells.error("manager_id", tr("employee '%(employee)s' cannot be their own manager",
                                           employee=r.record.id))
            r.record.manager_id = None


def _department(row: Cells) -> str | None:
    """The department: its own column, else the last part of the department path (销售中心/华东大区)."""
    if row.has("department"):
        return _label(row, "department")
    path = row.text("department_path")
    if path is None:
        return None
    last = [p.strip() for p in re.split(r"[/>\\|]", path) if p.strip()]
    return last[-1][:LABEL_MAX] if last else None


def _label(row: Cells, column: str) -> str | None:
    value = row.text(column)
    if value is not None and (len(value) > LABEL_MAX or "\n" in value or "\r" in value):
        row.error(column, tr("%(column)s must be one line of at most %(max)s characters", column=row.label(column),
                             max=str(LABEL_MAX)))
        return None
    return value


# ----------------------------------------------------------------------------------------------- the service


def _read(file: Path, mapping: Path | HrMapping | None) -> tuple[HrExport, Issues]:
    config = mapping if isinstance(mapping, HrMapping) else load_hr_mapping(mapping)
    path = Path(file)
    issues = Issues([path.name])
    return read_hr_export(path, config, issues), issues


def preview_hr_import(database_url: str, file: Path, mapping: Path | HrMapping | None = None,
                      examples: int = 5) -> ImportPreview:
    """What importing the roster would change, org changes included (``ImportPreview.org``); writes nothing.

    Raises ImportFailed (every problem, each with file, row and the export's column label) or Rejected (an invalid
    mapping file)."""
    export, issues = _read(file, mapping)
    plans = plan_records(database_url, export.records, issues)
    preview = build_preview("hr", [Path(file).name], plans, export.records, examples)
    preview.notes[:0] = export.notes
    return preview


def apply_hr_import(database_url: str, file: Path, mapping: Path | HrMapping | None = None, actor: str = "hr",
                    expect: str | None = None) -> ImportSummary:
    """Validate and write the roster in one transaction (the same checks and comparison as the preview); the org
    changes it wrote are then pending for ``services.org_changes.apply_pending``."""
    export, issues = _read(file, mapping)
    return write_records(database_url, export.records, issues, actor, expect=expect)

