"""The catalogue of connection and flow specs: JSON data validated at start-up, shared by every org (specs are
organisation-agnostic). The product's own specs are files under ``flowservice/specs``; each source keeps its
connection spec in its package, and ``bootstrap`` passes those files in (``sources/registry.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from flowservice.domain import listing
from flowservice.domain.errors import InvalidRequest, NotFound

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"
MASK = "********"


@dataclass(frozen=True)
class AuthSpec:
    name: str
    schema: dict[str, Any]
    validator: Draft7Validator
    secret_fields: frozenset[str]


@dataclass(frozen=True)
class ConnectionSpec:
    doc: dict[str, Any]
    auth_specs: dict[str, AuthSpec]  # keyed by lower-case name
    source_validator: Draft7Validator | None
    target_validator: Draft7Validator | None

    @property
    def id(self) -> str:
        return str(self.doc["id"])

    @property
    def name(self) -> str:
        return str(self.doc["name"])

    def auth_spec(self, name: str) -> AuthSpec:
        spec = self.auth_specs.get(name.strip().lower())
        if spec is None:
            raise InvalidRequest(
                f"The auth spec '{name}' could not be found for the connection spec ID {self.id}. "
                f"Known auth specs: {', '.join(a.name for a in self.auth_specs.values())}.",
                code="1415",
            )
        return spec


class SpecCatalog:
    def __init__(self, connection_specs: list[dict[str, Any]], flow_specs: list[dict[str, Any]]) -> None:
        self.connections: dict[str, ConnectionSpec] = {}
        for doc in connection_specs:
            self.connections[doc["id"]] = _connection_spec(doc)
        self.flows: dict[str, dict[str, Any]] = {doc["id"]: doc for doc in flow_specs}

    @classmethod
    def load(cls, root: Path = SPECS_DIR, connection_files: Iterable[Path] = ()) -> SpecCatalog:
        """The specs under ``root`` and the connection specs in ``connection_files``, each kind listed in the
        order of its file names wherever the files live."""

        def read(paths: Iterable[Path]) -> list[dict[str, Any]]:
            return [json.loads(p.read_text()) for p in sorted(paths, key=lambda p: (p.name, str(p)))]

        connections = [*(root / "connections").glob("*.json"), *connection_files]
        return cls(read(connections), read((root / "flows").glob("*.json")))

    def connection(self, spec_id: str) -> ConnectionSpec:
        spec = self.connections.get(str(spec_id))
        if spec is None:
            raise InvalidRequest(
                f"The spec ID provided '{spec_id}' is invalid. Please provide a valid spec ID and try again.",
                code="1413",
            )
        return spec

    def flow(self, spec_id: str) -> dict[str, Any]:
        spec = self.flows.get(str(spec_id))
        if spec is None:
            raise InvalidRequest(
                f"The flow spec ID provided '{spec_id}' is invalid. Please provide a valid spec ID and try again.",
                code="1413",
            )
        return spec


def _validator(schema: dict[str, Any], where: str) -> Draft7Validator:
    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid JSON Schema in {where}: {exc.message}") from None
    return Draft7Validator(schema)


def _connection_spec(doc: dict[str, Any]) -> ConnectionSpec:
    for key in ("id", "name", "version"):
        if key not in doc:
            raise ValueError(f"connection spec {doc.get('name', '?')} lacks {key!r}")
    auth_specs = {}
    for auth in doc.get("authSpec", []):
        schema = auth["spec"]
        secrets = frozenset(
            name for name, prop in schema.get("properties", {}).items() if prop.get("format") == "password"
        )
        auth_specs[auth["name"].lower()] = AuthSpec(
            auth["name"], schema, _validator(schema, f"{doc['name']}/{auth['name']}"), secrets
        )
    source = doc.get("sourceSpec", {}).get("spec")
    target = doc.get("targetSpec", {}).get("spec")
    return ConnectionSpec(
        doc,
        auth_specs,
        _validator(source, f"{doc['name']}/sourceSpec") if source else None,
        _validator(target, f"{doc['name']}/targetSpec") if target else None,
    )


def validation_message(validator: Draft7Validator, instance: Any, prefix: str) -> str | None:
    """The first schema error as one sentence naming the offending field, or None when valid.

    The sentence is built from the schema side only (the keyword and its bound), never from the value sent:
    jsonschema's own messages quote the instance, which for an auth param may be a password of the wrong type.
    """
    if _valid_at_once(validator.schema, instance):
        return None
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.absolute_path), str(e.path)))
    if not errors:
        return None
    error = errors[0]
    path = ".".join([prefix, *(str(p) for p in error.absolute_path)])
    keyword, bound = error.validator, error.validator_value
    if keyword == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = next((name for name in bound if name not in present), "?")
        return f"The field '{path}.{missing}' is required."
    if keyword == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        sent = error.instance if isinstance(error.instance, dict) else {}
        unexpected = sorted(str(k) for k in sent if k not in known)
        return f"Unknown field in '{path}': {', '.join(repr(u) for u in unexpected) or 'unexpected properties'}."
    return f"The field '{path}' is invalid: it {_requirement(keyword, bound)}."


#: schema id → (the schema itself, held so that its id stays its own; its compiled check, or None)
_FAST_CHECKS: dict[int, tuple[Any, Callable[[Any], Any] | None]] = {}
_MAX_FAST_CHECKS = 256


def _valid_at_once(schema: Any, instance: Any) -> bool:
    """True when ``instance`` is valid by ``fastjsonschema``'s compiled check of ``schema``, about thirty times
    faster than jsonschema's walk: every create and patch validates its params. The check is at least as strict
    as jsonschema (it also checks the formats it knows), so False only means "ask jsonschema", whose answer and
    error messages stay the rule."""
    entry = _FAST_CHECKS.get(id(schema))
    if entry is None or entry[0] is not schema:
        if len(_FAST_CHECKS) >= _MAX_FAST_CHECKS:
            _FAST_CHECKS.clear()
        try:
            check = fastjsonschema.compile(schema, formats={"password": lambda _: True})
        except fastjsonschema.JsonSchemaDefinitionException:  # a keyword or format it lacks: jsonschema alone
            check = None
        entry = _FAST_CHECKS[id(schema)] = (schema, check)
    if entry[1] is None:
        return False
    try:
        entry[1](instance)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _requirement(keyword: Any, bound: Any) -> str:
    """What the schema keyword ``keyword`` with ``bound`` asks of a value, phrased without the value."""
    if keyword == "type":
        kinds = bound if isinstance(bound, list) else [bound]
        return "must be of type " + " or ".join(str(k) for k in kinds)
    phrases: dict[str, Callable[[], str]] = {
        "enum": lambda: "must be one of " + ", ".join(json.dumps(v) for v in bound),
        "const": lambda: f"must be {json.dumps(bound)}",
        "minLength": lambda: f"must be at least {bound} character{_plural(bound)} long",
        "maxLength": lambda: f"must be at most {bound} character{_plural(bound)} long",
        "pattern": lambda: f"must match the pattern {bound}",
        "format": lambda: f"must be a valid {bound}",
        "minimum": lambda: f"must be at least {bound}",
        "maximum": lambda: f"must be at most {bound}",
        "exclusiveMinimum": lambda: f"must be greater than {bound}",
        "exclusiveMaximum": lambda: f"must be less than {bound}",
        "multipleOf": lambda: f"must be a multiple of {bound}",
        "minItems": lambda: f"must have at least {bound} items",
        "maxItems": lambda: f"must have at most {bound} items",
        "uniqueItems": lambda: "must not repeat items",
        "minProperties": lambda: f"must have at least {bound} fields",
        "maxProperties": lambda: f"must have at most {bound} fields",
    }
    phrase = phrases.get(str(keyword))
    return phrase() if phrase else f"does not match the schema ({keyword})"


def _plural(count: Any) -> str:
    return "" if count == 1 else "s"


# ---------------------------------------------------------------------------------- reading the catalogue
# What ``configs`` means here. Adobe's swagger (``exploreConfigByConnectionId``, ``configByConnectionSpecId``)
# says only "the configs for the properties given a connection" / "the available config options for a given
# connection spec", with the example ``{"items": [{"columnName": "name", "columnType": "string"}, …]}``. This
# server answers, in that shape, the parameters a connection of the spec is configured with: the properties of
# its ``sourceSpec`` (Dynamics: ``tableName``, ``columns``, ``entityType``, ``primaryKey``: what a source
# connection's ``params`` take) or, for a target spec, of its ``targetSpec`` (the Data Lake: ``dataSetId``,
# ``writeMode``); each row adds ``required`` and, where the schema has them, ``enum`` and ``default``. A base
# connection's configs are its spec's (it is looked up in the caller's tenant first). A spec explore
# (``exploreByConnectionSpecId``) has no credentials to reach the remote system with: for a spec that defines an
# ``exploreSpec`` it answers, in the same shape, the parameters its ``requestSpec`` lets
# ``GET /connections/{id}/explore`` take; a spec without one is refused by name.


def find_connection_spec(specs: SpecCatalog, spec_id: str) -> ConnectionSpec:
    """The connection spec ``spec_id`` of a path (404 when the catalogue has none)."""
    spec = specs.connections.get(spec_id)
    if spec is None:
        raise NotFound(
            f"The connection spec {spec_id} is not found.", resource_id=spec_id, resource_type="connectionSpecs"
        )
    return spec


def configs(spec: ConnectionSpec) -> list[dict[str, Any]]:
    """The configuration rows of ``spec``: its source (else target) parameters."""
    section = spec.doc.get("sourceSpec") or spec.doc.get("targetSpec") or {}
    return _rows(section.get("spec") or {})


def explore_request(spec: ConnectionSpec, params: Iterable[str]) -> list[dict[str, Any]]:
    """What exploring a connection of ``spec`` takes, for a spec that defines an ``exploreSpec``."""
    explore = spec.doc.get("exploreSpec")
    if not explore:
        raise InvalidRequest(
            f"The connection spec {spec.id} ({spec.name}) defines no exploreSpec: there is nothing to explore "
            "for it. Connections of this spec are configured through GET "
            f"/connectionSpecs/{spec.id}/configs.",
            code="1100",
        )
    sent = sorted(params)
    if sent:
        raise InvalidRequest(
            f"Exploring the objects of a {spec.name} source needs its credentials: send "
            f"{', '.join(sent)} to GET /connections/{{BASE_CONNECTION_ID}}/explore with a base connection of "
            "this spec. Without a connection, this endpoint takes no parameters and describes the explore "
            "request.",
            code="1451",
        )
    return _rows(explore.get("requestSpec") or {})


def _rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required") or ())
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        row: dict[str, Any] = {"columnName": name, "columnType": _type(prop), "required": name in required}
        for key in ("enum", "default"):
            if key in prop:
                row[key] = prop[key]
        rows.append(row)
    return rows


def _type(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return str(kind) if isinstance(kind, str) else "object"


def flow_specs(specs: SpecCatalog, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The flow specs a listing query selects (``domain/listing``: filters, orderby, limit, tokens, count), by
    default in the catalogue's order, as ``GET /flowSpecs`` lists them."""
    query = listing.parse_list_query(params)
    position = {id: n for n, id in enumerate(specs.flows)}
    page = listing.apply(query, list(specs.flows.values()), default_order=lambda doc: position[doc["id"]])
    if query.count_only:
        return {"count": page.total}
    answer: dict[str, Any] = {"items": page.items}
    if page.next_offset is not None:
        answer["_links"] = {"next": {"href": f"/flowSpecs?continuationToken={listing.encode_token(page.next_offset)}"}}
    return answer


# ---------------------------------------------------------------------------------- custom specs
ADDING_A_SOURCE = "docs/adding-a-source.md"


def custom_spec_refused(kind: str) -> InvalidRequest:
    """``POST``/``PUT`` of ``/connectionSpecs`` or ``/flowSpecs`` (``kind``: ``connection`` or ``flow``).

    Adobe answers a caller that is no source provider ``1426-400`` ("The user token is unauthorized to
    create/update the connection spec"; ``help/sources/errors/flow-service-errors.md``). This server can run
    only the specs it ships, whoever calls, so it answers that code with the reason and the way to add one."""
    what = (
        "a source (its connection spec, settings and client)"
        if kind == "connection"
        else "a flow spec, or a source to the CRMToAEP flow spec,"
    )
    return InvalidRequest(
        f"Custom {kind} specs are not supported on this server: flowservice runs only the {kind} specs it ships "
        f"(GET /{kind}Specs lists them), so POST /{kind}Specs and PUT /{kind}Specs/{{id}} are refused for every "
        f"caller. To add {what}, add it to the code as {ADDING_A_SOURCE} describes.",
        code="1426",
    )
