"""A parsed ``$filter`` bound to a table's columns (or to metadata dictionaries) as a row predicate."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from crm_emulator.errors import DataverseError, bad_request, property_not_found, unsupported
from crm_emulator.odata_filter import CRM_FUNCTIONS, CRM_PREFIX, STRING_FUNCTIONS, Call, Cmp, Lit, Logic, Prop
from crm_emulator.odata_values import OP_KINDS, coerce, coerce_text, incompatible, sort_value
from crm_emulator.schema import Column, Table

Predicate = Callable[[Any], "bool | None"]


def like_regex(pattern: str, kind: str) -> re.Pattern[str]:
    out = []
    k = 0
    while k < len(pattern):
        ch = pattern[k]
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", k + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                inner = pattern[k + 1 : end]
                neg = inner.startswith("^")
                body = re.escape(inner[1:] if neg else inner).replace("\\-", "-")
                out.append(f"[{'^' if neg else ''}{body}]")
                k = end
        else:
            out.append(re.escape(ch))
        k += 1
    body = "".join(out)
    if kind == "contains":
        body = f".*{body}.*"
    elif kind == "startswith":
        body = f"{body}.*"
    elif kind == "endswith":
        body = f".*{body}"
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if op == "eq":
        return bool(a == b)
    if op == "ne":
        return bool(a != b)
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return None


def compile_filter(node: Any, table: Table) -> Predicate:
    """Bind a parsed ``$filter`` to a table's columns; the predicate takes a row view with ``.get``.

    Every property and literal type is checked the way Dataverse does (unknown property → the documented 400, a
    quoted GUID compared with a GUID column → incompatible types). The predicate has SQL three-valued logic: a
    comparison with a null is unknown, so ``not (x gt 5)`` does not match rows where ``x`` is null. String
    comparisons are case-insensitive and ``contains``/``startswith``/``endswith`` honour SQL LIKE wildcards
    (``%``, ``_``, ``[]``, ``[^]``), as the reference §4.1 documents.
    """

    def column(prop: Prop) -> Column:
        if len(prop.path) > 1:
            raise unsupported(f"Filtering on the related table path '{'/'.join(prop.path)}'")
        col = table.by_prop.get(prop.path[0])
        if col is None:
            raise property_not_found(prop.path[0], table.logical_name)
        return col

    def bind(n: Any) -> Predicate:
        if isinstance(n, Logic):
            parts = [bind(a) for a in n.args]
            if n.op == "not":
                inner = parts[0]

                def negate(row: Any) -> bool | None:
                    v = inner(row)
                    return None if v is None else not v

                return negate
            if n.op == "and":
                left, right = parts

                def both(row: Any) -> bool | None:
                    a = left(row)
                    if a is False:
                        return False
                    b = right(row)
                    if b is False:
                        return False
                    return None if a is None or b is None else True

                return both
            left, right = parts

            def either(row: Any) -> bool | None:
                a = left(row)
                if a is True:
                    return True
                b = right(row)
                if b is True:
                    return True
                return None if a is None or b is None else False

            return either
        if isinstance(n, Cmp):
            return bind_cmp(n)
        if isinstance(n, Call):
            return bind_call(n)
        if isinstance(n, Prop):
            col = column(n)
            if col.type_name != "BooleanType":
                raise bad_request(f"The $filter expression must evaluate to a boolean; '{col.prop}' is not.")
            name = col.prop
            return lambda row: row.get(name)
        raise bad_request("The $filter expression must evaluate to a boolean.")

    def bind_cmp(n: Cmp) -> Predicate:
        op = n.op
        left, right = n.left, n.right
        if isinstance(left, Lit) and isinstance(right, Prop):
            left, right = right, left
            op = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}.get(op, op)
        if not isinstance(left, Prop):
            raise bad_request("A comparison needs a property on one side.")
        col = column(left)
        name = col.prop
        if isinstance(right, Prop):
            other = column(right)
            if other.edm_type != col.edm_type:
                raise bad_request(
                    "A binary operator with incompatible types was detected. Found operand types "
                    f"'{col.edm_type}' and '{other.edm_type}' for operator kind '{OP_KINDS[op]}'."
                )
            oname = other.prop

            def columns(row: Any) -> bool | None:
                a, b = row.get(name), row.get(oname)
                if a is None or b is None:
                    return None
                return _compare(op, sort_value(col, a), sort_value(other, b))

            return columns
        if not isinstance(right, Lit):
            raise bad_request("Unsupported comparison operand.")
        if col.type_name in ("ImageType", "MultiSelectPicklistType") and right.kind != "null":
            raise unsupported(f"Comparing the {col.attribute_type} column '{name}' with '{op}'")
        if right.kind == "null":
            if op == "eq":
                return lambda row: row.get(name) is None
            if op == "ne":
                return lambda row: row.get(name) is not None
            return lambda row: None
        target = sort_value(col, coerce(col, right, op))

        def compare(row: Any) -> bool | None:
            v = row.get(name)
            if v is None:
                return None
            return _compare(op, sort_value(col, v), target)

        return compare

    def bind_call(n: Call) -> Predicate:
        name = n.name
        if name in STRING_FUNCTIONS:
            if len(n.args) != 2 or not isinstance(n.args[0], Prop) or not isinstance(n.args[1], Lit):
                raise bad_request(f"The function '{name}' takes a property and a string literal.")
            col = column(n.args[0])
            if col.type_name not in ("StringType", "MemoType", "EntityNameType"):
                raise bad_request(f"The function '{name}' is not supported on the column '{col.prop}'.")
            if n.args[1].kind != "string":
                raise incompatible(col, n.args[1], name)
            rx = like_regex(n.args[1].value, name)
            prop = col.prop

            def like(row: Any) -> bool | None:
                v = row.get(prop)
                return None if v is None else rx.fullmatch(v) is not None

            return like
        if name.startswith(CRM_PREFIX) and name[len(CRM_PREFIX) :] in CRM_FUNCTIONS:
            fn = name[len(CRM_PREFIX) :]
            prop_name = n.named.get("PropertyName")
            if not isinstance(prop_name, Lit) or prop_name.kind != "string":
                raise bad_request(f"{name} requires PropertyName='<column>'.")
            found = table.by_prop.get(prop_name.value) or table.by_name.get(prop_name.value)
            if found is None or not found.webapi:
                raise property_not_found(prop_name.value, table.logical_name)
            col = found
            prop = col.prop
            if fn in ("Null", "NotNull"):
                return (lambda row: row.get(prop) is None) if fn == "Null" else (lambda row: row.get(prop) is not None)
            raw = n.named.get("PropertyValues")
            if not isinstance(raw, list):
                raise bad_request(f"{name} requires PropertyValues=[...].")
            if fn in ("ContainValues", "DoesNotContainValues"):
                if col.type_name != "MultiSelectPicklistType":
                    raise bad_request(f"{name} is only valid for multi-select choice columns.")
                wanted = {str(int(v)) for v in raw}
                present = fn == "ContainValues"

                def contains_values(row: Any) -> bool | None:
                    v = row.get(prop)
                    if v is None:
                        return None if present else True
                    hit = bool(wanted & set(v.split(",")))
                    return hit if present else not hit

                return contains_values
            values = [sort_value(col, coerce_text(col, str(v))) for v in raw]
            if fn in ("In", "NotIn"):
                allowed = set(values)
                negate = fn == "NotIn"

                def member(row: Any) -> bool | None:
                    v = row.get(prop)
                    if v is None:
                        return None
                    return (sort_value(col, v) in allowed) != negate

                return member
            if len(values) != 2:
                raise bad_request(f"{name} requires exactly two PropertyValues.")
            lo, hi = values
            negate = fn == "NotBetween"

            def between(row: Any) -> bool | None:
                v = row.get(prop)
                if v is None:
                    return None
                s = sort_value(col, v)
                try:
                    return bool(lo <= s <= hi) != negate
                except TypeError:
                    return None

            return between
        raise unsupported(f"The query function '{name}'")

    return bind(node)


# --- metadata filters --------------------------------------------------------------------------------------
def compile_metadata_filter(node: Any) -> Callable[[dict[str, Any]], bool | None]:
    """``$filter`` over metadata dictionaries: primitive, enum and managed-property paths (``X/Value``)."""

    def get(row: dict[str, Any], path: tuple[str, ...]) -> Any:
        value: Any = row
        for seg in path:
            if not isinstance(value, dict) or seg not in value:
                raise bad_request(f"Could not find a property named '{seg}' on the metadata type.")
            value = value[seg]
        return value

    def norm(v: Any) -> Any:
        return v.casefold() if isinstance(v, str) else v

    def bind(n: Any) -> Callable[[dict[str, Any]], bool | None]:
        if isinstance(n, Logic):
            parts = [bind(a) for a in n.args]
            if n.op == "not":
                return lambda row: (lambda v: None if v is None else not v)(parts[0](row))
            if n.op == "and":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(n, Call):
            short = n.name[len(CRM_PREFIX) :] if n.name.startswith(CRM_PREFIX) else n.name
            raise DataverseError(400, "0x8006088a", f'The "{short}" function isn\'t supported for Metadata Entities.')
        if isinstance(n, Cmp):
            left, right = n.left, n.right
            if isinstance(left, Lit) and isinstance(right, Prop):
                left, right = right, left
            if not isinstance(left, Prop) or not isinstance(right, Lit):
                raise bad_request("Metadata filters compare a property with a literal.")
            path = left.path
            target = right.value[1] if right.kind == "enum" else right.value
            target = norm(str(target) if right.kind == "guid" else target)
            op = n.op

            def compare(row: dict[str, Any]) -> bool | None:
                v = norm(get(row, path))
                if target is None:
                    return (v is None) == (op == "eq")
                if v is None:
                    return None
                return _compare(op, v, target)

            return compare
        if isinstance(n, Prop):
            return lambda row: bool(get(row, n.path))
        raise bad_request("Unsupported metadata filter.")

    return bind(node)
