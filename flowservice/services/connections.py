"""Base connections: create, read (secrets masked), list, patch under If-Match, delete, test and explore.

Calls to the source on behalf of a request (test, explore, the describes that validate source connections and
flows) are bounded by ``SourceCalls`` (a deadline, a per-tenant limit, a pool of their own); a run's reads are
not (they have per-call deadlines of their own). Patching or deleting a connection releases what the source
factory keeps for it (token, limiter, metadata).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, closing
from typing import Any

import pyarrow as pa

from flowservice.domain.errors import Conflict, FlowServiceError, InvalidRequest, NotFound, SourceError
from flowservice.domain.tenancy import Principal, Tenant
from flowservice.ports import EXPLORING, FRESH_METADATA, SOURCE_OPTIONS, Resources, SourceClient, SourceFactory, Stored
from flowservice.services.drafts import (
    DRAFT,
    check_types,
    is_draft,
    keep_draft_state,
    present,
    require_draft_support,
    shape_message,
)
from flowservice.services.explore_format import arrow_to_json_rows, explore_column, preview_count
from flowservice.services.resources import ResourceService, audit_fields, new_id, require_object
from flowservice.services.source_calls import SourceCalls
from flowservice.services.specs import MASK, ConnectionSpec, SpecCatalog, validation_message


class ConnectionService(ResourceService):
    kind = "connections"

    def __init__(
        self, resources: Resources, specs: SpecCatalog, sources: SourceFactory, calls: SourceCalls | None = None
    ) -> None:
        super().__init__(resources)
        self.specs = specs
        self.sources = sources
        self.calls = calls or SourceCalls()

    # ------------------------------------------------------------------ create / patch
    def create(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        doc, secrets = self._complete(require_object(body))
        doc.update(audit_fields(principal, tenant))
        return self.resources.add(self.kind, tenant, new_id(), doc, secrets)

    def _complete(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        spec = self._spec(body)
        doc: dict[str, Any] = {
            "name": _string(body, "name", required=True),
            "description": _string(body, "description"),
            "connectionSpec": _spec_ref(spec, body),
            "state": "enabled",
        }
        secrets: dict[str, str] = {}
        if spec.auth_specs:
            auth = body.get("auth")
            if not isinstance(auth, dict) or not auth.get("specName"):
                raise InvalidRequest("The field 'auth.specName' is required.")
            doc["auth"], secrets = _split_auth(spec, auth)
        return doc, secrets

    def _spec(self, body: dict[str, Any]) -> ConnectionSpec:
        spec_ref = body.get("connectionSpec")
        if not isinstance(spec_ref, dict) or not spec_ref.get("id"):
            raise InvalidRequest("The field 'connectionSpec.id' is required.", code="1413")
        return self.specs.connection(spec_ref["id"])

    def create_draft(self, tenant: Tenant, principal: Principal, body: Any) -> Stored:
        doc, secrets = self._draft(require_object(body))
        doc.update(audit_fields(principal, tenant))
        return self.resources.add(self.kind, tenant, new_id(), doc, secrets)

    def _draft(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """A draft's document: the spec (which must allow drafts) and whatever else was sent, of the right types;
        secret params are sealed as in a complete connection."""
        spec = self._spec(body)
        require_draft_support(spec.doc.get("attributes"), f"connection spec {spec.id} ({spec.name})")
        check_types(body, strings=("name", "description"), objects=("auth",))
        doc: dict[str, Any] = {
            **present(body, ("name", "description")),
            "connectionSpec": _spec_ref(spec, body),
            "state": DRAFT,
        }
        auth = body.get("auth")
        if auth is None:
            return doc, {}
        spec_name, params = auth.get("specName"), auth.get("params")
        if spec_name is None:
            if params is not None:
                raise InvalidRequest(
                    "The field 'auth.specName' is required with 'auth.params', even in a draft: it says which "
                    "params are secrets."
                )
            return doc, {}
        if not isinstance(spec_name, str):
            raise InvalidRequest("The field 'auth.specName' must be a string.")
        auth = {"specName": spec_name, "params": {} if params is None else params}
        doc["auth"], secrets = _split_auth(spec, auth, draft=True)
        return doc, secrets

    def completed(self, tenant: Tenant, stored: Stored) -> tuple[dict[str, Any], dict[str, str] | None]:
        body = present(stored.doc, ("name", "description", "connectionSpec"))
        auth = stored.doc.get("auth")
        if isinstance(auth, dict):
            body["auth"] = {**auth, "params": _unmasked(auth.get("params") or {}, stored.secrets)}
        return self._complete(body)

    def update(self, tenant: Tenant, principal: Principal, id: str, operations: Any, if_match: str | None) -> Stored:
        def validate(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str] | None:
            if new.get("connectionSpec") != old.get("connectionSpec"):
                raise InvalidRequest("The connection spec of a connection cannot be updated.", code="1414")
            if is_draft(old):
                keep_draft_state(self.kind, id, new)
                auth = new.get("auth")
                if isinstance(auth, dict) and isinstance(auth.get("params"), dict):
                    current = self.get(tenant, id, with_secrets=True).secrets
                    new["auth"] = {**auth, "params": _unmasked(auth["params"], current)}
                doc, secrets = self._draft(new)
                new.pop("auth", None)
                new.update(doc)
                return secrets
            if not isinstance(new.get("name"), str) or not new["name"].strip():
                raise InvalidRequest("The field 'name' is required and must be a non-empty string.", code="1455")
            if new.get("state") not in ("enabled", "disabled"):
                raise InvalidRequest("The field 'state' must be 'enabled' or 'disabled'.", code="1455")
            spec = self.specs.connection(old["connectionSpec"]["id"])
            if not spec.auth_specs:
                return None
            new_auth = new.get("auth") or {}
            if not isinstance(new_auth, dict) or not isinstance(new_auth.get("params"), dict):
                raise InvalidRequest(
                    "The field 'auth' must be an object with 'specName' and an object 'params'.", code="1455"
                )
            if str(new_auth.get("specName", "")).lower() != old["auth"]["specName"].lower():
                raise InvalidRequest(
                    "The authentication type of a connection cannot be changed; create a new connection instead.",
                    code="1455",
                )
            params = _unmasked(new_auth["params"], self.get(tenant, id, with_secrets=True).secrets)
            new["auth"], secrets = _split_auth(spec, {**new_auth, "params": params})
            return secrets

        stored = self.patch(tenant, principal, id, operations, if_match, validate)
        self.sources_invalidate(id)
        return stored

    def sources_invalidate(self, id: str) -> None:
        invalidate = getattr(self.sources, "invalidate", None)
        if invalidate is not None:
            invalidate(id)

    def sources_share(self, id: str, processes: int) -> None:
        """``processes`` worker processes read connection ``id`` at once: this one keeps to its share of the
        source's limits (``SourceDispatch.share``), told by the worker's heartbeat."""
        share = getattr(self.sources, "share", None)
        if share is not None:
            share(id, processes)

    def delete(self, tenant: Tenant, id: str) -> None:
        super().delete(tenant, id)
        self.sources_invalidate(id)

    def check_deletable(self, tenant: Tenant, id: str) -> None:
        for kind in ("sourceConnections", "targetConnections"):
            for other in self.resources.list(kind, tenant):
                if other.doc.get("baseConnectionId") == id:
                    raise Conflict(
                        f"The base connection with the ID {id} cannot be deleted because the base connection is "
                        f"being used by {kind} {other.id}. Please ensure that corresponding flows and "
                        "connections are deleted before deleting a base connection.",
                        code="1418",
                    )

    # ------------------------------------------------------------------ source access
    def open_source(
        self,
        tenant: Tenant,
        id: str,
        *,
        interactive: bool = False,
        options: Mapping[str, Any] | None = None,
        fresh: bool = False,
        exploring: bool = False,
    ) -> SourceClient:
        """A client of the source behind base connection ``id``: for explore, test, source connections, flows
        and runs alike, so a disabled connection is refused in one place. ``interactive`` (a call on behalf of a
        request) holds one of the tenant's source-call slots and a deadline until the client is closed; raises
        ``TooManyRequests`` when the tenant has none left. ``options``: a source connection's params beyond
        its table and columns (``source_options``), or an explore request's own, handed to the factory as
        ``_sourceOptions``; ``fresh``: a run's client, which describes tables from fresh metadata
        (``FRESH_METADATA``); ``exploring``: an explore's, whose metadata is at most briefly cached (``EXPLORING``)."""
        stored = self.get(tenant, id, with_secrets=True)
        require_enabled(stored)
        auth = stored.doc.get("auth")
        if not auth:
            raise InvalidRequest(f"The connection {id} has no source credentials to explore.")
        params = {**auth["params"], **stored.secrets, **({SOURCE_OPTIONS: dict(options)} if options else {})}
        if fresh:
            params[FRESH_METADATA] = True
        if exploring:
            params[EXPLORING] = True
        if not interactive:
            return self.sources(stored.doc["connectionSpec"]["id"], auth["specName"], {**params, "_connectionId": id})
        stack = ExitStack()
        stack.enter_context(self.calls.held(tenant, f"A call to the source of connection {id}"))
        try:
            source = self.sources(stored.doc["connectionSpec"]["id"], auth["specName"], {**params, "_connectionId": id})
        except BaseException:
            stack.close()
            raise
        return _HeldSource(source, stack)

    def test(self, tenant: Tenant, id: str) -> dict[str, Any]:
        try:
            with closing(self.open_source(tenant, id, interactive=True)) as source:
                source.check()
        except NotFound:
            raise
        except FlowServiceError as exc:
            if (isinstance(exc, SourceError) and exc.status != 499) or exc.status == 400:
                return {"result": False, "reason": exc.message}
            raise
        return {"result": True}

    def explore(self, tenant: Tenant, id: str, params: dict[str, str]) -> list[dict[str, Any]] | dict[str, Any]:
        object_type = params.get("objectType", "root").strip().lower()
        if object_type not in ("root", "table", "view"):
            raise InvalidRequest(
                f"Unsupported objectType '{params.get('objectType')}'; use root, table or view.", code="1451"
            )
        extra = {k: v for k, v in params.items() if k not in EXPLORE_PARAMS}  # the source's own (e.g. choiceLabels)
        with closing(self.open_source(tenant, id, interactive=True, options=extra, exploring=True)) as source:
            if object_type == "root":
                return [
                    {
                        "type": t.kind,
                        "name": t.display_name,
                        "path": t.name,
                        "canPreview": t.can_preview,
                        "canFetchSchema": True,
                    }
                    for t in source.list_tables()
                ]
            table = params.get("object", "").strip()
            if not table:
                raise InvalidRequest("The query parameter 'object' (the table path) is required.", code="1451")
            schema = source.describe(table)
            result: dict[str, Any] = {
                "format": "flat",
                "schema": {"columns": [explore_column(c) for c in schema.columns]},
            }
            if params.get("preview", "false").strip().lower() == "true":
                count = preview_count(params.get("previewCount"))
                rows = source.preview(table, None, count)
                result["data"] = arrow_to_json_rows(rows)
            return result


EXPLORE_PARAMS = frozenset({"objectType", "object", "preview", "previewCount", "fileType"})


class _HeldSource:
    """A source client that gives its tenant's slot (and deadline) back when closed."""

    def __init__(self, source: SourceClient, held: ExitStack) -> None:
        self._source = source
        self._held = held

    def check(self) -> None:
        self._source.check()

    def list_tables(self) -> Iterator[Any]:
        return self._source.list_tables()

    def describe(self, table: str) -> Any:
        return self._source.describe(table)

    def preview(self, table: str, columns: list[str] | None, count: int) -> pa.Table:
        return self._source.preview(table, columns, count)

    def read(self, table: str, columns: list[str] | None, cursor: dict[str, Any] | None, **kwargs: Any) -> Any:
        return self._source.read(table, columns, cursor, **kwargs)

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            self._held.close()

    def __getattr__(self, name: str) -> Any:  # source-specific extras (e.g. omitted_columns)
        return getattr(self._source, name)


def require_enabled(connection: Stored) -> None:
    """A disabled base connection keeps its credentials but is not used until it is enabled again; a draft is
    not used until it is published."""
    if is_draft(connection.doc):
        raise InvalidRequest(
            f"The base connection {connection.id} is a draft; publish it (POST /connections/{connection.id}/action"
            "?op=publish) before using it.",
            code="1422",
        )
    if connection.doc.get("state", "enabled") != "enabled":
        raise InvalidRequest(
            f"The base connection {connection.id} is {connection.doc.get('state')}; enable it (PATCH /state to "
            "'enabled') before using it.",
            code="1422",
        )


def _spec_ref(spec: ConnectionSpec, body: dict[str, Any]) -> dict[str, str]:
    return {"id": spec.id, "version": str(body["connectionSpec"].get("version") or spec.doc["version"])}


def _unmasked(params: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """``params`` with each secret sent back masked (unchanged) replaced by the stored one."""
    return {k: (secrets[k] if v == MASK and k in secrets else v) for k, v in params.items()}


def _split_auth(
    spec: ConnectionSpec, auth: dict[str, Any], *, draft: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate auth params against the auth spec's JSON Schema (a draft's: their types only); return (masked
    auth, secrets)."""
    auth_spec = spec.auth_spec(str(auth["specName"]))
    params = auth.get("params")
    if not isinstance(params, dict):
        raise InvalidRequest("The field 'auth.params' is required and must be an object.")
    check = shape_message if draft else validation_message
    message = check(auth_spec.validator, params, "auth.params")
    if message:
        raise InvalidRequest(message)
    secrets = {k: v for k, v in params.items() if k in auth_spec.secret_fields}
    masked = {k: (MASK if k in auth_spec.secret_fields else v) for k, v in params.items()}
    return {"specName": auth_spec.name, "params": masked}, secrets


def _string(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidRequest(f"The field '{key}' is required.")
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"The field '{key}' must be a string.")
    if required and not value.strip():
        raise InvalidRequest(f"The field '{key}' must not be empty.")
    return value
