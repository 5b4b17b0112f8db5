"""Which CRM field means what: the defaults for a standard Zoho CRM and a standard Fxiaoke (纷享销客) setup, and a
YAML file (``--mapping crm.yaml``) that overrides any of them, validated with every problem naming its field.

A key given in the file replaces its default (a list replaces the whole list); under ``columns`` each field
given replaces that field's column label(s) only. See docs/crm-imports.md for every key and its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from domain.errors import DomainError
from domain.inputs import Id
from domain.text import Text, tr
from domain.validation import error_text
from services.errors import Rejected

Source = Literal["zoho", "fxiaoke"]
SOURCES: tuple[Source, ...] = ("zoho", "fxiaoke")
Module = Literal["accounts", "contacts", "deals", "orders", "cases"]

# Column labels per module and field: the first label present in a file's header is used. Zoho's are the field
# labels of its standard modules as its Export writes them ("Account Name.id" is the id of a lookup);
# Fxiaoke's the Chinese labels of AccountObj, ContactObj, the opportunity object, SalesOrderObj and 工单.
# A deal is won when its stage or its status (Fxiaoke's 商机状态: 进行中 / 赢单 / 输单 / 无效) is in won_stages.
COLUMNS: dict[Source, dict[str, dict[str, list[str]]]] = {
    "zoho": {
        "accounts": {"id": ["Record Id"], "name": ["Account Name"], "owner": ["Account Owner"],
                     "owner_id": ["Account Owner.id"], "annual_revenue": ["Annual Revenue"], "currency": ["Currency"]},
        "contacts": {"id": ["Record Id"], "name": ["Full Name", "Contact Name"], "first_name": ["First Name"],
                     "last_name": ["Last Name"], "email": ["Email"], "account": ["Account Name"],
                     "account_id": ["Account Name.id"], "owner": ["Contact Owner"]},
        "deals": {"id": ["Record Id"], "name": ["Deal Name"], "owner": ["Deal Owner"], "account": ["Account Name"],
                  "account_id": ["Account Name.id"], "stage": ["Stage"], "status": [], "amount": ["Amount"],
                  "currency": ["Currency"], "closed_on": ["Closing Date"]},
        "cases": {"id": ["Record Id"], "owner": ["Case Owner"], "account": ["Account Name"],
                  "account_id": ["Account Name.id"], "type": ["Type"], "status": ["Status"],
                  "opened_on": ["Created Time", "Date/Time Opened"]},
    },
    "fxiaoke": {
        "accounts": {"id": ["客户编号"], "name": ["客户名称"], "owner": ["负责人"], "owner_id": [],
                     "annual_revenue": [], "currency": ["币种"]},
        "contacts": {"id": [], "name": ["联系人姓名", "姓名"], "email": ["邮箱"], "mobile": ["手机"],
                     "account": ["客户名称"], "owner": ["负责人"]},
        "deals": {"id": ["商机编号"], "name": ["商机名称"], "owner": ["负责人"], "account": ["客户名称"],
                  "stage": ["商机阶段", "销售阶段", "阶段"], "status": ["商机状态"],
                  "amount": ["商机金额", "金额", "销售金额"], "currency": ["币种"],
                  "closed_on": ["结单日期", "预计结单日期", "预计成交日期"]},
        "orders": {"id": ["销售订单编号", "订单编号"], "owner": ["负责人"], "account": ["客户名称"],
                   "amount": ["销售订单金额", "订单金额", "销售金额", "金额"], "currency": ["币种"],
                   "closed_on": ["下单日期", "订单日期"], "status": ["生命状态", "订单状态"]},
        "cases": {"id": ["工单编号"], "owner": ["负责人"], "account": ["客户名称"], "type": ["工单类型", "类型"],
                  "status": ["状态", "工单状态"], "opened_on": ["创建时间"]},
    },
}

#: The field whose column tells which module a file is, tried in this order: the most specific first (a ticket
#: or an opportunity export may also name its contact, 联系人姓名; 客户名称 is in every export, so accounts come
#: last). Zoho names each module's owner column after the module.
SIGNATURES: dict[Source, list[tuple[str, str]]] = {
    "zoho": [("accounts", "owner"), ("contacts", "owner"), ("deals", "owner"), ("cases", "owner")],
    "fxiaoke": [("orders", "id"), ("cases", "id"), ("deals", "name"), ("contacts", "name"), ("accounts", "id")],
}

DEFAULTS: dict[Source, dict[str, Any]] = {
    "zoho": {"won_stages": ["Closed Won"], "complaint_types": ["Problem"], "cancelled_statuses": [],
             "date_order": "MDY", "id_prefix": "zcrm_"},
    "fxiaoke": {"won_stages": ["赢单"], "complaint_types": ["投诉"], "cancelled_statuses": ["作废", "已作废"],
                "date_order": "YMD", "id_prefix": ""},
}

#: Fxiaoke's open API (``kamreview crm pull fxiaoke``): the object each module is read from (None: not read) and the
#: field api name that holds each of our fields (None: not read; a contact's or deal's id is then derived as from
#: the export, so an API pull and an Excel import of the same records give the same ids). Lookups to the account
#: (``account_id``) hold the account's ``_id``; select fields hold option values, shown by their labels through
#: the object's describe, so ``won_stages`` and the other lists name the same labels as for the export.
API_OBJECTS: dict[Source, dict[str, str | None]] = {
    "fxiaoke": {"accounts": "AccountObj", "contacts": "ContactObj", "deals": "NewOpportunityObj",
                "orders": "SalesOrderObj", "cases": "CasesObj"},
}
API_FIELDS: dict[Source, dict[str, dict[str, str | None]]] = {
    "fxiaoke": {
        "accounts": {"id": "account_no", "name": "name", "owner": "owner", "annual_revenue": None,
                     "currency": "mc_currency"},
        "contacts": {"id": None, "name": "name", "email": "email", "mobile": "mobile", "account_id": "account_id",
                     "owner": "owner"},
        "deals": {"id": None, "name": "name", "owner": "owner", "account_id": "account_id", "stage": "sales_stage",
                  "status": "sales_status", "amount": "amount", "currency": "mc_currency", "closed_on": "close_date"},
        "orders": {"id": "name", "owner": "owner", "account_id": "account_id", "amount": "order_amount",
                   "currency": "mc_currency", "closed_on": "order_time", "status": "life_status"},
        "cases": {"id": "name", "owner": "owner", "account_id": "account_id", "type": "case_type",
                  "status": "status", "opened_on": "create_time"},
    },
}

CURRENCY_NAMES = {"人民币": "CNY", "美元": "USD", "欧元": "EUR", "港币": "HKD", "港元": "HKD", "日元": "JPY",
                  "英镑": "GBP", "新台币": "TWD", "新加坡元": "SGD", "澳元": "AUD", "韩元": "KRW"}


class OwnerMapping(BaseModel):
    """How the CRM's owner of an account becomes its KAM: each way in ``match`` is tried in order."""

    model_config = ConfigDict(extra="forbid")
    match: list[Literal["table", "email", "name", "id"]] = Field(default=["table", "email", "name"], min_length=1)
    owners: dict[str, Id] = Field(default_factory=dict, description="CRM owner as written -> employee_id")


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner: OwnerMapping = Field(default_factory=OwnerMapping)
    won_stages: list[str] = Field(min_length=1)
    complaint_types: list[str] = Field(min_length=1)
    cancelled_statuses: list[str]
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    currency_names: dict[str, str] = Field(default_factory=lambda: dict(CURRENCY_NAMES))
    date_order: Literal["YMD", "MDY", "DMY"]
    contact_locale: str = Field(default="zh-CN", pattern=r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
    id_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]{0,16}$")

    @field_validator("currency_names")
    @classmethod
    def _codes(cls, names: dict[str, str]) -> dict[str, str]:
        bad = [code for code in names.values() if not (len(code) == 3 and code.isascii() and code.isupper())]
        if bad:
            raise DomainError(tr("'%(code)s' is not a currency code (3 upper-case letters, e.g. CNY)", code=bad[0]))
        return names


Labels = str | list[str]
ApiField = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)?$")]
"""A field's API name, or a lookup's field joined to it (``Owner.email``, ``Account_Name.Account_Name``)."""

#: The fields whose API name a mapping may give, per source with an API pull and module.
API_FIELD_NAMES: dict[str, dict[str, list[str]]] = {
    "zoho": {"accounts": ["name", "owner", "owner_id", "annual_revenue", "currency"],
             "contacts": ["name", "first_name", "last_name", "email", "account", "account_id"],
             "deals": ["name", "owner", "account", "account_id", "stage", "amount", "currency", "closed_on"],
             "cases": ["owner", "account", "account_id", "type", "status", "opened_on"]},
}


def _model(source: Source) -> type[_Base]:
    modules = {
        module: (create_model(f"{source}_{module}_columns", __config__=ConfigDict(extra="forbid"),
                              **{name: (Labels | None, None) for name in fields}), None)
        for module, fields in COLUMNS[source].items()
    }
    columns = create_model(f"{source}_columns", __config__=ConfigDict(extra="forbid"), **modules)
    extra: dict[str, Any] = {}
    if source in API_OBJECTS:
        forbid = ConfigDict(extra="forbid")
        objects = create_model(f"{source}_api_objects", __config__=forbid,
                               **{m: (str | None, None) for m in API_OBJECTS[source]})
        fields = create_model(f"{source}_api_fields", __config__=forbid, **{
            m: (create_model(f"{source}_{m}_api_fields", __config__=forbid,
                             **{name: (str | None, None) for name in names}) | None, None)
            for m, names in API_FIELDS[source].items()})
        api = create_model(f"{source}_api", __config__=forbid, objects=(objects | None, None),
                           fields=(fields | None, None))
        extra["api"] = (api | None, None)
    if source in API_FIELD_NAMES:  # the API's field names, for `crm pull` (a custom field, Owner.email ...)
        api = {module: (create_model(f"{source}_{module}_api_fields", __config__=ConfigDict(extra="forbid"),
                                     **{name: (ApiField | None, None) for name in fields}), None)
               for module, fields in API_FIELD_NAMES[source].items()}
        extra["api_fields"] = (create_model(f"{source}_api_fields", __config__=ConfigDict(extra="forbid"), **api)
                               | None, None)
    return create_model(f"{source}_mapping", __base__=_Base, columns=(columns | None, None), **extra)


_MODELS = {source: _model(source) for source in SOURCES}


class CrmMapping:
    """The mapping in force for one import: the source's defaults with the file's overrides applied."""

    def __init__(self, source: Source, settings: _Base, file: str | None = None) -> None:
        self.source = source
        self.settings = settings
        self.file = file
        self.columns: dict[str, dict[str, list[str]]] = {m: dict(f) for m, f in COLUMNS[source].items()}
        given = getattr(settings, "columns", None)
        for module, fields in (given.model_dump(exclude_none=True) if given is not None else {}).items():
            for name, labels in fields.items():
                self.columns[module][name] = [labels] if isinstance(labels, str) else list(labels)
        self.api_objects: dict[str, str | None] = dict(API_OBJECTS.get(source, {}))
        self.api_fields: dict[str, dict[str, str | None]] = {m: dict(f) for m, f in API_FIELDS.get(source, {}).items()}
        api = getattr(settings, "api", None)
        if api is not None:  # a key given as null switches that object or field off
            self.api_objects.update(api.objects.model_dump(exclude_unset=True) if api.objects is not None else {})
            for module, fields in (api.fields.model_dump(exclude_unset=True) if api.fields is not None else {}).items():
                self.api_fields[module].update(fields or {})
        zoho_fields = getattr(settings, "api_fields", None)  # Zoho: the API field names a mapping file gives
        for module, fields in (zoho_fields.model_dump(exclude_none=True) if zoho_fields is not None else {}).items():
            self.api_fields.setdefault(module, {}).update(fields)
        self.won = {stage.casefold() for stage in settings.won_stages}
        self.complaint = {kind.casefold() for kind in settings.complaint_types}
        self.cancelled = {status.casefold() for status in settings.cancelled_statuses}


def load_mapping(source: Source, path: Path | None = None) -> CrmMapping:
    """The defaults for ``source``, overridden by the YAML file at ``path`` (refused with every problem named)."""
    from services.cycles import parse_yaml_mapping, read_yaml_file  # the cycle YAML's reader: same messages

    data: dict[str, Any] = {}
    name = None
    if path is not None:
        name = str(path)
        data = parse_yaml_mapping(read_yaml_file(Path(path)), name)
    merged = {**DEFAULTS[source], **data}
    try:
        settings = _MODELS[source].model_validate(merged)
    except ValidationError as err:
        raise Rejected(mapping_problems(err, name or source)) from None
    return CrmMapping(source, settings, name)


def mapping_problems(err: ValidationError, source: str) -> Text:
    """Every problem of a mapping file, one a line, each with its field path (``columns.deals.amount``)."""
    lines = [tr("  %(field)s: %(problem)s", field=".".join(str(p) for p in e["loc"]) or tr("(top level)"),
                problem=error_text(e)) for e in err.errors()]
    return tr("%(file)s: the CRM mapping is invalid (%(count)s problem(s)):\n%(problems)s", file=source,
              count=str(err.error_count()), problems=lines)
