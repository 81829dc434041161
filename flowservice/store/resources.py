"""The resource repository: tenant-scoped JSON documents with etags, secrets sealed by the vault."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, cast

import orjson
from sqlalchemy import Engine, Table, bindparam, delete, insert, select, text, update

from flowservice.domain import listing
from flowservice.domain.clock import now_ms
from flowservice.domain.errors import NotFound, PreconditionFailed
from flowservice.domain.tenancy import Tenant
from flowservice.ports import Stored
from flowservice.store.db import DriverStatement, writing
from flowservice.store.listing_sql import narrowed
from flowservice.store.tables import ResourceRow
from flowservice.store.vault import Vault


def new_etag() -> str:
    return f'"{uuid.uuid4()}"'


def _bare(etag: str) -> str:
    """Compare etags without their quotes: the docs send ``If-Match`` both quoted and bare."""
    return etag.strip().removeprefix("W/").strip('"').strip("\\").strip('"')


class SqlResources:
    def __init__(self, engine: Engine, vault: Vault) -> None:
        self._engine = engine
        self._vault = vault
        self._insert = DriverStatement(engine, _INSERT)

    def add(self, kind: str, tenant: Tenant, id: str, doc: dict[str, Any], secrets: dict[str, str]) -> Stored:
        stamp = now_ms()
        etag = new_etag()
        doc = {**doc, "id": id, "createdAt": doc.get("createdAt", stamp), "updatedAt": stamp}
        doc.update(etag=etag, version=etag)
        values = {
            "kind": kind,
            "id": id,
            "org": tenant.org,
            "sandbox": tenant.sandbox,
            "doc": orjson.dumps(doc).decode(),
            "secrets": self._vault.seal(secrets, bound_to=id) if secrets else None,
            "etag": etag,
            "created_at": doc["createdAt"],
            "updated_at": stamp,
            "seq": 0,
        }
        self._insert.run(values)
        return Stored(kind, id, doc, dict(secrets), etag)

    def get(self, kind: str, tenant: Tenant, id: str, *, with_secrets: bool = False) -> Stored | None:
        # Core, not the ORM: this is the hot path of every GET and costs a fifth as much
        with self._engine.connect() as conn:
            row = conn.execute(_GET_ONE, {"kind": kind, "id": id, "org": tenant.org, "sandbox": tenant.sandbox}).first()
        return self._stored(kind, row, with_secrets=with_secrets) if row else None

    def list(self, kind: str, tenant: Tenant) -> list[Stored]:
        with self._engine.connect() as conn:
            rows = conn.execute(_LIST, {"kind": kind, "org": tenant.org, "sandbox": tenant.sandbox}).all()
        return [self._stored(kind, row, with_secrets=False) for row in rows]

    def page(
        self, kind: str, tenant: Tenant, query: listing.ListQuery, default_order: Callable[[dict[str, Any]], Any]
    ) -> listing.Page:
        """``listing.apply`` over the tenant's documents of ``kind``, with what SQL can do done in SQL: rows the
        filters surely reject are never read, and in the creation order reading stops after the page."""
        dialect = self._engine.dialect.name
        statement = narrowed(
            select(_T.doc).where(_T.kind == kind, _T.org == tenant.org, _T.sandbox == tenant.sandbox),
            dialect,
            _T.doc,
            query,
        )
        descending = listing.creation_order(query)
        with self._engine.connect() as conn:
            if descending is None:
                docs = [orjson.loads(doc) for doc in conn.execute(statement).scalars()]
                return listing.apply(query, docs, default_order=default_order)
            # createdAt in the document is the created_at column (both set once, by add); ties go by id
            ids = _T.id.collate("C") if dialect == "postgresql" else _T.id
            statement = statement.order_by(_T.created_at.desc() if descending else _T.created_at.asc(), ids.asc())
            # Closed when the window stops reading, which leaves PostgreSQL's server-side cursor open otherwise.
            with conn.execution_options(stream_results=True, yield_per=256).execute(statement) as result:
                return listing.window(query, (orjson.loads(doc) for doc in result.scalars()))

    def latest_runs(self, tenant: Tenant, flow_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The newest run document of each flow, one indexed lookup per flow (``ix_resources_runs_by_flow``)."""
        statement = _LATEST_RUN[self._engine.dialect.name == "postgresql"]
        found: dict[str, dict[str, Any]] = {}
        with self._engine.connect() as conn:
            for flow_id in flow_ids:
                doc = conn.execute(statement, {"org": tenant.org, "sandbox": tenant.sandbox, "flow": flow_id}).scalar()
                if doc is not None:
                    found[flow_id] = orjson.loads(doc)
        return found

    def update(
        self,
        kind: str,
        tenant: Tenant,
        id: str,
        doc: dict[str, Any],
        secrets: dict[str, str] | None,
        *,
        if_etag: str | None,
    ) -> Stored:
        with writing(self._engine), self._engine.begin() as conn:
            row = conn.execute(_CURRENT, {"kind": kind, "id": id, "org": tenant.org, "sandbox": tenant.sandbox}).first()
            if row is None:
                raise NotFound(
                    _not_found(kind, id), code="1439" if kind == "flows" else "1101", resource_id=id, resource_type=kind
                )
            if if_etag is not None and _bare(if_etag) != _bare(row.etag):
                raise PreconditionFailed(
                    f"The supplied version '{if_etag}' does not match the current version on entity "
                    f"'{row.etag}'. Please ensure that the supplied version matches the current version on "
                    "entity and try again."
                )
            stamp = now_ms()
            etag = new_etag()
            doc = {**doc, "id": id, "createdAt": row.created_at, "updatedAt": stamp, "etag": etag, "version": etag}
            values: dict[str, Any] = {
                "doc": orjson.dumps(doc).decode(),
                "etag": etag,
                "updated_at": stamp,
                "seq": row.seq + 1,
            }
            if secrets is not None:
                values["secrets"] = self._vault.seal(secrets, bound_to=id) if secrets else None
            # compare-and-swap on seq so two writers never both win
            result = conn.execute(
                update(_TABLE).where(_T.kind == kind, _T.id == id, _T.seq == row.seq).values(**values)
            )
            if result.rowcount != 1:
                raise PreconditionFailed(f"The resource {id} was changed by another request; fetch it again and retry.")
            return Stored(kind, id, doc, dict(secrets or {}), etag)

    def delete(self, kind: str, tenant: Tenant, id: str) -> bool:
        with writing(self._engine), self._engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(*_one(kind, tenant, id)))
            return bool(result.rowcount)

    def _stored(self, kind: str, row: Any, *, with_secrets: bool) -> Stored:
        id, doc, sealed, etag = row
        secrets = self._vault.open(sealed, bound_to=id) if (with_secrets and sealed) else {}
        return Stored(kind, id, orjson.loads(doc), secrets, etag)


_TABLE = cast(Table, ResourceRow.__table__)
_T = _TABLE.c
_COLUMNS = (_T.id, _T.doc, _T.secrets, _T.etag)
# built once: composing a statement per request cost as much as running it
_LIST = select(*_COLUMNS).where(
    _T.kind == bindparam("kind"), _T.org == bindparam("org"), _T.sandbox == bindparam("sandbox")
)
_GET_ONE = _LIST.where(_T.id == bindparam("id"))
_CURRENT = select(_T.etag, _T.created_at, _T.seq).where(
    _T.kind == bindparam("kind"),
    _T.id == bindparam("id"),
    _T.org == bindparam("org"),
    _T.sandbox == bindparam("sandbox"),
)
_INSERT = insert(_TABLE)
# the expression and the literal kind are those of the index (migration 0004), so that the database uses it
_LATEST_RUN = {
    False: text(
        "SELECT doc FROM resources WHERE kind = 'runs' AND org = :org AND sandbox = :sandbox "
        "AND json_extract(doc, '$.flowId') = :flow ORDER BY created_at DESC, id DESC LIMIT 1"
    ),
    True: text(
        "SELECT doc FROM resources WHERE kind = 'runs' AND org = :org AND sandbox = :sandbox "
        "AND ((doc::jsonb) ->> 'flowId') = :flow ORDER BY created_at DESC, id DESC LIMIT 1"
    ),
}


def _one(kind: str, tenant: Tenant, id: str) -> tuple[Any, ...]:
    """The conditions that find one resource: its key *and* its tenant, so another tenant's id is not found."""
    return (_T.kind == kind, _T.id == id, _T.org == tenant.org, _T.sandbox == tenant.sandbox)


def _not_found(kind: str, id: str) -> str:
    return f"The requested {kind} resource {id} is not found. Verify the resource ID before trying again."
