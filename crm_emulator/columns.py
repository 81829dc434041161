"""Short constructors for :class:`~crm_emulator.schema.Column`, so table definitions read like a schema."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crm_emulator.schema import Column, Option

INT32_MIN, INT32_MAX = -2147483648, 2147483647
INT64_MIN, INT64_MAX = -9223372036854775808, 9223372036854775807
MONEY_MIN, MONEY_MAX = -922337203685477, 922337203685477


def string(name: str, max_length: int = 100, **kw: Any) -> Column:
    kw.setdefault("format", "Text")
    return Column(name, "StringType", max_length=max_length, **kw)


def email(name: str, **kw: Any) -> Column:
    return string(name, 100, format="Email", **kw)


def phone(name: str, **kw: Any) -> Column:
    return string(name, 50, format="Phone", **kw)


def url(name: str, **kw: Any) -> Column:
    return string(name, 200, format="Url", **kw)


def memo(name: str, max_length: int = 2000, **kw: Any) -> Column:
    kw.setdefault("format", "TextArea")
    return Column(name, "MemoType", max_length=max_length, **kw)


def integer(name: str, lo: int = INT32_MIN, hi: int = INT32_MAX, **kw: Any) -> Column:
    kw.setdefault("format", "None")
    return Column(name, "IntegerType", min_value=lo, max_value=hi, **kw)


def bigint(name: str, **kw: Any) -> Column:
    return Column(name, "BigIntType", min_value=INT64_MIN, max_value=INT64_MAX, **kw)


def decimal(name: str, precision: int = 2, lo: float = -100000000000, hi: float = 100000000000, **kw: Any) -> Column:
    return Column(name, "DecimalType", precision=precision, min_value=lo, max_value=hi, **kw)


def double(name: str, precision: int = 5, lo: float = -1000000000, hi: float = 1000000000, **kw: Any) -> Column:
    return Column(name, "DoubleType", precision=precision, min_value=lo, max_value=hi, **kw)


def money(name: str, lo: float = MONEY_MIN, hi: float = MONEY_MAX, **kw: Any) -> Column:
    return Column(name, "MoneyType", precision=2, min_value=lo, max_value=hi, **kw)


def money_pair(name: str, **kw: Any) -> list[Column]:
    """A money column and its ``_base`` twin in the organization's base currency (read-only)."""
    base = Column(
        f"{name}_base",
        "MoneyType",
        precision=4,
        min_value=MONEY_MIN,
        max_value=MONEY_MAX,
        writable=False,
        money_base_of=name,
        custom=kw.get("custom", False),
    )
    return [money(name, **kw), base]


def boolean(name: str, true: str = "Yes", false: str = "No", **kw: Any) -> Column:
    return Column(name, "BooleanType", true_label=true, false_label=false, **kw)


def datetime_col(name: str, behavior: str = "UserLocal", date_only_format: bool = False, **kw: Any) -> Column:
    fmt = "DateOnly" if behavior == "DateOnly" or date_only_format else "DateAndTime"
    return Column(name, "DateTimeType", behavior=behavior, format=fmt, **kw)


def guid(name: str, **kw: Any) -> Column:
    return Column(name, "UniqueidentifierType", **kw)


def primary_key(name: str) -> Column:
    return Column(name, "UniqueidentifierType", primary_id=True, writable=True, required="SystemRequired")


def lookup(name: str, *targets: str, **kw: Any) -> Column:
    return Column(name, "LookupType", targets=targets, **kw)


def customer(name: str, **kw: Any) -> Column:
    return Column(name, "CustomerType", targets=("account", "contact"), **kw)


def owner(**kw: Any) -> Column:
    return Column("ownerid", "OwnerType", targets=("systemuser", "team"), required="SystemRequired", **kw)


def _options(items: Iterable[tuple[int, str]]) -> tuple[Option, ...]:
    return tuple(Option(value, text) for value, text in items)


def numbered(labels: Sequence[str], start: int = 1) -> list[tuple[int, str]]:
    return [(start + n, text) for n, text in enumerate(labels)]


def picklist(name: str, items: Iterable[tuple[int, str]], global_name: str | None = None, **kw: Any) -> Column:
    return Column(
        name,
        "PicklistType",
        options=_options(items),
        option_set_name=global_name or f"{{table}}_{name}",
        global_option_set=global_name is not None,
        **kw,
    )


def multiselect(name: str, items: Iterable[tuple[int, str]], **kw: Any) -> Column:
    return Column(name, "MultiSelectPicklistType", options=_options(items), option_set_name=f"{{table}}_{name}", **kw)


def state(items: Sequence[tuple[int, str, int, str]]) -> Column:
    """statecode: (value, label, default status, invariant name)."""
    options = tuple(Option(v, text, default_status=d, invariant=inv) for v, text, d, inv in items)
    return Column(
        "statecode", "StateType", options=options, option_set_name="{table}_statecode", required="SystemRequired"
    )


def status(items: Sequence[tuple[int, str, int]]) -> Column:
    """statuscode: (value, label, state)."""
    options = tuple(Option(v, text, state=s) for v, text, s in items)
    return Column("statuscode", "StatusType", options=options, option_set_name="{table}_statuscode")


def entity_name(name: str, **kw: Any) -> Column:
    return Column(name, "EntityNameType", **kw)


def image(name: str, **kw: Any) -> Column:
    return Column(name, "ImageType", **kw)


def file(name: str, **kw: Any) -> Column:
    return Column(name, "FileType", **kw)


def helpers_for(col: Column) -> list[Column]:
    """Metadata-only companions of a lookup (name, yomi name, type): no Web API property (reference §3.6)."""
    out = [
        Column(
            f"{col.name}name",
            "StringType",
            max_length=100,
            attribute_of=col.name,
            webapi=False,
            writable=False,
            logical=True,
            custom=col.custom,
        ),
    ]
    if col.type_name in ("CustomerType", "OwnerType") or col.name in ("createdby", "modifiedby", "ownerid"):
        out.append(
            Column(
                f"{col.name}yominame",
                "StringType",
                max_length=100,
                attribute_of=col.name,
                webapi=False,
                writable=False,
                logical=True,
                custom=col.custom,
            )
        )
    if col.type_name in ("CustomerType", "OwnerType"):
        out.append(Column(f"{col.name}type", "EntityNameType", attribute_of=col.name, webapi=False, custom=col.custom))
    return out


STATE_ACTIVE = state([(0, "Active", 1, "Active"), (1, "Inactive", 2, "Inactive")])
STATUS_ACTIVE = status([(1, "Active", 0), (2, "Inactive", 1)])


def standard(owned: bool = True) -> list[Column]:
    """The system columns every user- or business-owned table carries."""
    cols = [
        datetime_col("createdon", writable=False, description="Date and time when the record was created."),
        datetime_col("modifiedon", writable=False, description="Date and time when the record was modified."),
        datetime_col(
            "overriddencreatedon", date_only_format=True, description="Date and time that the record was migrated."
        ),
        lookup("createdby", "systemuser", writable=False),
        lookup("modifiedby", "systemuser", writable=False),
        lookup("createdonbehalfby", "systemuser", writable=False),
        lookup("modifiedonbehalfby", "systemuser", writable=False),
        bigint("versionnumber", writable=False, description="Version Number"),
        integer("importsequencenumber", -2147483648, 2147483647),
        integer("timezoneruleversionnumber", -1, 2147483647),
        integer("utcconversiontimezonecode", -1, 2147483647),
    ]
    if owned:
        cols += [
            owner(),
            lookup("owninguser", "systemuser", writable=False),
            lookup("owningteam", "team", writable=False),
            lookup("owningbusinessunit", "businessunit", writable=False),
        ]
    else:
        cols.append(lookup("owningbusinessunit", "businessunit", writable=False))
    return cols


def with_helpers(cols: list[Column]) -> list[Column]:
    out: list[Column] = []
    for col in cols:
        out.append(col)
        if col.is_lookup:
            out.extend(helpers_for(col))
    return out
