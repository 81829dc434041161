"""The catalogue of connection and flow specs: data files under ``flowservice/specs``, validated at start-up,
shared by every org (specs are organisation-agnostic). A new source adds a file here and a module under
``sources/``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from flowservice.domain.errors import InvalidRequest

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
    def load(cls, root: Path = SPECS_DIR) -> SpecCatalog:
        def read(folder: str) -> list[dict[str, Any]]:
            return [json.loads(p.read_text()) for p in sorted((root / folder).glob("*.json"))]

        return cls(read("connections"), read("flows"))

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
