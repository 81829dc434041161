"""Mapping sets (Data Prep): what a flow does to each source row before it lands in the lake.

A mapping set is a list of mappings; each one fills one destination field from a source column
(``ATTRIBUTE``), a constant (``STATIC``) or an expression over source columns (``EXPRESSION``). This module
parses and validates both documented request forms (expressions: ``expressions.py``); it never touches data.
``services/mapping.py`` evaluates a parsed set column-wise over Arrow batches.

Accepted request forms (reference §8.2)::

    old:  {"xdmSchema": "...", "xdmVersion": "1.0", "version": 0,
           "mappings": [{"sourceAttribute": "name", "destinationXdmPath": "person.name.fullName",
                         "identity": false, "identityGroup": null, "namespaceCode": null, "version": 0}]}
    new:  {"outputSchema": {"schemaRef": {"id": "...", "contentType": "..."}},
           "mappings": [{"sourceType": "ATTRIBUTE", "source": "id", "destination": "_id",
                         "name": "id", "description": "Identifier field"}]}

Each mapping is read on its own, so a set may mix the two field spellings. An old-form mapping has no
``sourceType``: a source holding a parenthesis or a quote (``concat(contactid, "@org")``) is an
EXPRESSION, anything else a column name (ATTRIBUTE). ``sourceType`` is case-insensitive and also
accepts Data Prep's media types ``text/x.schema-path`` (ATTRIBUTE) and ``text/x.aep-xl`` (EXPRESSION).

Every error is an ``InvalidRequest`` with code 1419 ("Error while validating mapping") whose message names
the mapping (``mappings[2]``), the field and, for expressions, the character position.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from flowservice.domain.expressions import (
    INT64_MAX,
    INT64_MIN,
    ColumnRef,
    Expr,
    ExpressionError,
    Literal,
    MappingError,
    Scalar,
    columns_of,
    parse_expression,
    rename_columns,
)

# ------------------------------------------------------------------------------------------- mappings


class SourceType(StrEnum):
    ATTRIBUTE = "ATTRIBUTE"
    EXPRESSION = "EXPRESSION"
    STATIC = "STATIC"


_SOURCE_TYPE_ALIASES = {
    "attribute": SourceType.ATTRIBUTE,
    "expression": SourceType.EXPRESSION,
    "static": SourceType.STATIC,
    "text/x.schema-path": SourceType.ATTRIBUTE,
    "text/x.aep-xl": SourceType.EXPRESSION,
}


@dataclass(frozen=True)
class Mapping:
    """One destination field and how to fill it.

    ``expr`` is what the evaluator runs: a ``ColumnRef`` for ATTRIBUTE, a ``Literal`` for STATIC, the parsed
    AST for EXPRESSION. ``path`` is the destination split on dots; nested paths become struct columns.
    """

    source_type: SourceType
    source: Scalar
    destination: str
    path: tuple[str, ...]
    expr: Expr
    name: str | None = None
    description: str | None = None
    identity: bool = False
    identity_group: str | None = None
    namespace_code: str | None = None
    # The request's spellings of the two fields, so errors name the field the client actually sent.
    source_field: str = field(default="source", compare=False)
    destination_field: str = field(default="destination", compare=False)


@dataclass(frozen=True)
class MappingSet:
    mappings: tuple[Mapping, ...]
    schema_ref: str | None = None
    schema_content_type: str | None = None
    xdm_version: str | None = None
    version: int | str | None = None
    id: str | None = None

    def source_columns(self) -> list[str]:
        """The source columns the set reads, in first-use order: what a run needs to ask the source for."""
        seen: dict[str, None] = {}
        for m in self.mappings:
            for ref in columns_of(m.expr):
                seen.setdefault(ref.name, None)
        return list(seen)

    def destination_for(self, column: str) -> str | None:
        """Where the first ATTRIBUTE mapping copying ``column`` puts it (e.g. where the primary key lands)."""
        for m in self.mappings:
            if m.source_type is SourceType.ATTRIBUTE and isinstance(m.expr, ColumnRef) and m.expr.name == column:
                return m.destination
        return None

    def bind(self, columns: Iterable[str]) -> MappingSet:
        """Check every column reference against the source's columns; return the set with names resolved.

        An exact match wins; otherwise a unique case-insensitive match is taken (Adobe's examples write
        ``Name`` where Dataverse's logical name is ``name``). Unknown columns raise ``MappingError``
        naming the mapping, the column and the closest known names.
        """
        known = list(columns)
        exact = set(known)
        folded: dict[str, list[str]] = {}
        for c in known:
            folded.setdefault(c.lower(), []).append(c)
        resolved: list[Mapping] = []
        for index, m in enumerate(self.mappings):
            renames: dict[str, str] = {}
            for ref in columns_of(m.expr):
                if ref.name in exact:
                    continue
                candidates = folded.get(ref.name.lower(), [])
                if len(candidates) == 1:
                    renames[ref.name] = candidates[0]
                    continue
                hint = sorted(candidates) or difflib.get_close_matches(ref.name, known, n=3)
                problem = "ambiguous (case differs)" if candidates else "unknown"
                where = f" at position {ref.pos}" if m.source_type is SourceType.EXPRESSION else ""
                suggestion = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                raise MappingError(
                    f"mappings[{index}].{m.source_field}: {problem} source column {ref.name!r}{where}"
                    f" (destination {excerpt(m.destination)}){suggestion}"
                )
            if renames:
                expr = rename_columns(m.expr, renames)
                source = m.source
                if m.source_type is SourceType.ATTRIBUTE and isinstance(expr, ColumnRef):
                    source = expr.name
                m = replace(m, expr=expr, source=source)
            resolved.append(m)
        return replace(self, mappings=tuple(resolved))

    def validate_against(self, columns: set[str]) -> None:
        """Raise ``MappingError`` when a mapping reads a column the source does not have."""
        self.bind(columns)

    def to_dict(self) -> dict[str, Any]:
        """The new (``outputSchema``/``sourceType``) form; ``parse_mapping_set`` reads it back unchanged."""
        body: dict[str, Any] = {}
        if self.id is not None:
            body["id"] = self.id
        if self.version is not None:
            body["version"] = self.version
        if self.schema_ref is not None:
            ref: dict[str, Any] = {"id": self.schema_ref}
            if self.schema_content_type is not None:
                ref["contentType"] = self.schema_content_type
            body["outputSchema"] = {"schemaRef": ref}
        if self.xdm_version is not None:
            body["xdmVersion"] = self.xdm_version
        items = []
        for m in self.mappings:
            item: dict[str, Any] = {
                "sourceType": m.source_type.value,
                "source": m.source,
                "destination": m.destination,
            }
            if m.name is not None:
                item["name"] = m.name
            if m.description is not None:
                item["description"] = m.description
            if m.identity:
                item["identity"] = True
                item["identityGroup"] = m.identity_group
                item["namespaceCode"] = m.namespace_code
            items.append(item)
        body["mappings"] = items
        return body

    @classmethod
    def identity(cls, columns: Sequence[str]) -> MappingSet:
        """Every column copied as-is under its own name (a flow without a Mapping transformation).

        Paths are single segments even when a name holds a dot: the column is copied, not nested.
        """
        return cls(tuple(Mapping(SourceType.ATTRIBUTE, c, c, (c,), ColumnRef(c), name=c) for c in columns))


EXCERPT_CHARACTERS = 80
MAX_DESTINATION_DEPTH = 32  # segments of a destination path: each one is a level of struct nesting in the lake


def excerpt(text: str) -> str:
    """``text`` quoted for an error message, cut to its first ``EXCERPT_CHARACTERS`` characters when long."""
    if len(text) <= EXCERPT_CHARACTERS:
        return repr(text)
    return f"{text[:EXCERPT_CHARACTERS]!r}… ({len(text)} characters)"


def _optional_str(item: MappingABC[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise MappingError(f"{where}.{key} must be a string")


def _destination_path(destination: str, where: str, key: str) -> tuple[str, ...]:
    if destination != destination.strip():
        raise MappingError(f"{where}.{key} {excerpt(destination)} has leading or trailing whitespace")
    path = tuple(destination.split("."))
    if len(path) > MAX_DESTINATION_DEPTH:
        raise MappingError(
            f"{where}.{key} nests {len(path)} levels deep; at most {MAX_DESTINATION_DEPTH} path segments are allowed"
        )
    if any(not segment for segment in path):
        raise MappingError(f"{where}.{key} {excerpt(destination)} has an empty path segment")
    if any(ch in destination for ch in "[]"):
        raise MappingError(f"{where}.{key} {excerpt(destination)}: array paths are not supported")
    return path


def _parse_source_type(raw: Any, where: str) -> SourceType:
    if not isinstance(raw, str) or raw.lower() not in _SOURCE_TYPE_ALIASES:
        raise MappingError(f"{where}.sourceType {raw!r} is not one of ATTRIBUTE, EXPRESSION, STATIC")
    return _SOURCE_TYPE_ALIASES[raw.lower()]


def _parse_mapping(item: Any, index: int) -> Mapping:
    where = f"mappings[{index}]"
    if not isinstance(item, dict):
        raise MappingError(f"{where} must be an object")
    old_form = "destinationXdmPath" in item or "sourceAttribute" in item

    dest_key = "destinationXdmPath" if "destinationXdmPath" in item else "destination"
    destination = item.get(dest_key)
    if destination is None or destination == "":
        raise MappingError(f"{where}.{dest_key} is required")
    if not isinstance(destination, str):
        raise MappingError(f"{where}.{dest_key} must be a string")
    path = _destination_path(destination, where, dest_key)

    src_key = "sourceAttribute" if "sourceAttribute" in item else "source"
    has_source = src_key in item
    source = item.get(src_key)

    if item.get("sourceType") is not None:
        source_type = _parse_source_type(item["sourceType"], where)
    elif old_form or has_source:
        # The old form has no sourceType: a call or a literal is an expression, anything else a column.
        source_type = (
            SourceType.EXPRESSION
            if isinstance(source, str) and any(ch in source for ch in "(\"'")
            else SourceType.ATTRIBUTE
        )
    else:
        raise MappingError(f"{where}.sourceType is required (ATTRIBUTE, EXPRESSION or STATIC)")

    expr: Expr
    if source_type is SourceType.STATIC:
        if not has_source:
            raise MappingError(f"{where}.{src_key} is required for a STATIC mapping (null is allowed)")
        if not (source is None or isinstance(source, str | int | float | bool)):
            raise MappingError(f"{where}.{src_key} of a STATIC mapping must be a string, number, boolean or null")
        if isinstance(source, int) and not isinstance(source, bool) and not INT64_MIN <= source <= INT64_MAX:
            raise MappingError(f"{where}.{src_key} of a STATIC mapping is out of the 64-bit integer range")
        expr = Literal(source)
    else:
        if not isinstance(source, str) or not source.strip():
            raise MappingError(f"{where}.{src_key} is required and must be a non-empty string")
        if source_type is SourceType.ATTRIBUTE:
            # A column name, copied as-is: no parsing, so any column name the source reports works.
            source = source.strip()
            expr = ColumnRef(source)
        else:
            try:
                expr = parse_expression(source)
            except ExpressionError as exc:
                raise MappingError(f"{where}.{src_key}: {exc.message} in expression {excerpt(source)}") from None

    identity = item.get("identity", False)
    if identity is None:
        identity = False
    if not isinstance(identity, bool):
        raise MappingError(f"{where}.identity must be a boolean")
    return Mapping(
        source_type=source_type,
        source=source,
        destination=destination,
        path=path,
        expr=expr,
        name=_optional_str(item, "name", where),
        description=_optional_str(item, "description", where),
        identity=identity,
        identity_group=_optional_str(item, "identityGroup", where),
        namespace_code=_optional_str(item, "namespaceCode", where),
        source_field=src_key,
        destination_field=dest_key,
    )


def _check_destinations(mappings: Sequence[Mapping]) -> None:
    """Reject duplicates and leaf/struct clashes. Case-insensitive: Delta Lake column names are."""
    leaves: dict[tuple[str, ...], int] = {}
    prefixes: dict[tuple[str, ...], int] = {}
    for index, m in enumerate(mappings):
        key = tuple(s.lower() for s in m.path)
        if key in leaves:
            other = mappings[leaves[key]]
            raise MappingError(
                f"mappings[{index}].{m.destination_field} {excerpt(m.destination)} duplicates "
                f"mappings[{leaves[key]}].{other.destination_field} {excerpt(other.destination)}"
            )
        if key in prefixes:
            other = mappings[prefixes[key]]
            raise MappingError(
                f"mappings[{index}].{m.destination_field} {excerpt(m.destination)} is a struct in "
                f"mappings[{prefixes[key]}].{other.destination_field} {excerpt(other.destination)}; "
                "a field cannot be both"
            )
        for n in range(1, len(key)):
            if key[:n] in leaves:
                other = mappings[leaves[key[:n]]]
                raise MappingError(
                    f"mappings[{index}].{m.destination_field} {excerpt(m.destination)} nests under "
                    f"mappings[{leaves[key[:n]]}].{other.destination_field} {excerpt(other.destination)}, "
                    "which is a value"
                )
            prefixes.setdefault(key[:n], index)
        leaves[key] = index


def parse_mapping(item: Any, index: int) -> Mapping:
    """One mapping of a request, read on its own (``index`` is its place, for the messages): what
    ``POST /mappingSets/validate`` checks mapping by mapping."""
    return _parse_mapping(item, index)


def check_destinations(mappings: Sequence[Mapping]) -> None:
    """Refuse duplicate destinations and leaf/struct clashes among ``mappings`` (``MappingError``)."""
    _check_destinations(mappings)


def parse_mapping_set(body: dict[str, Any]) -> MappingSet:
    """Parse a ``POST /mappingSets`` body in either documented form; raise ``MappingError`` (1419)."""
    if not isinstance(body, dict):
        raise MappingError("the mapping set must be a JSON object")
    mappings_raw = body.get("mappings")
    if not isinstance(mappings_raw, list) or not mappings_raw:
        raise MappingError("mappings is required and must be a non-empty array")
    mappings = tuple(_parse_mapping(item, i) for i, item in enumerate(mappings_raw))
    _check_destinations(mappings)

    schema_ref: str | None = None
    content_type: str | None = None
    output_schema = body.get("outputSchema")
    if output_schema is not None:
        if not isinstance(output_schema, dict):
            raise MappingError("outputSchema must be an object")
        ref = output_schema.get("schemaRef")
        if ref is not None:
            if not isinstance(ref, dict):
                raise MappingError("outputSchema.schemaRef must be an object")
            schema_ref = _optional_str(ref, "id", "outputSchema.schemaRef")
            content_type = _optional_str(ref, "contentType", "outputSchema.schemaRef")
    if schema_ref is None:
        schema_ref = _optional_str(body, "xdmSchema", "mapping set")

    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int | str)):
        raise MappingError("version must be an integer or a string")
    xdm_version = body.get("xdmVersion")
    if xdm_version is not None and not isinstance(xdm_version, str | int | float):
        raise MappingError("xdmVersion must be a string")
    set_id = body.get("id")
    return MappingSet(
        mappings=mappings,
        schema_ref=schema_ref,
        schema_content_type=content_type,
        xdm_version=None if xdm_version is None else str(xdm_version),
        version=version,
        id=set_id if isinstance(set_id, str) else None,
    )


# ------------------------------------------------------------------------------------------- versions

#: The kind under which the superseded versions of a mapping set are kept (the latest is ``mappingSets``).
VERSIONS_KIND = "mappingSetVersions"
_MAX_VERSION_DIGITS = 9


def version_key(mapping_id: str, version: int) -> str:
    """The id of one superseded version of a mapping set among the documents of ``VERSIONS_KIND``."""
    return f"{mapping_id}:{version}"


def version_of(doc: MappingABC[str, Any]) -> int:
    """The version number of a stored mapping set. Sets stored before versions existed carry no number
    (their ``version`` was the etag) and are version 0."""
    version = doc.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) and version >= 0 else 0


def parse_version(raw: Any, what: str) -> int:
    """A mapping set version as clients send it: an integer, or its decimal digits as a string (the Mapping
    transformation spec types ``mappingVersion`` as a string; Adobe's examples send ``0``)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**_MAX_VERSION_DIGITS:
        return raw
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= _MAX_VERSION_DIGITS:
        return int(raw.strip())
    shown = repr(raw) if isinstance(raw, str | int | float) and len(str(raw)) <= 20 else f"a {type(raw).__name__}"
    raise MappingError(f'{what} must be a mapping set version: a non-negative integer such as 0 or "1", not {shown}')
