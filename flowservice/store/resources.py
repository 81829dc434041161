"""The resource repository: tenant-scoped JSON documents with etags, secrets sealed by the vault."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from flowservice.domain.errors import NotFound, PreconditionFailed
from flowservice.domain.tenancy import Tenant
from flowservice.services.ports import Stored
from flowservice.store.db import writing
from flowservice.store.tables import ResourceRow
from flowservice.store.vault import Vault


def new_etag() -> str:
    return f'"{uuid.uuid4()}"'


def _bare(etag: str) -> str:
    """Compare etags without their quotes: the docs send ``If-Match`` both quoted and bare."""
    return etag.strip().removeprefix("W/").strip('"').strip("\\").strip('"')


def now_ms() -> int:
    return int(time.time() * 1000)


class SqlResources:
    def __init__(self, engine: Engine, vault: Vault) -> None:
        self._engine = engine
        self._vault = vault

    def add(self, kind: str, tenant: Tenant, id: str, doc: dict[str, Any], secrets: dict[str, str]) -> Stored:
        stamp = now_ms()
        etag = new_etag()
        doc = {**doc, "id": id, "createdAt": doc.get("createdAt", stamp), "updatedAt": stamp}
        doc.update(etag=etag, version=etag)
        row = ResourceRow(
            kind=kind,
            id=id,
            org=tenant.org,
            sandbox=tenant.sandbox,
            doc=orjson.dumps(doc).decode(),
            secrets=self._vault.seal(secrets, bound_to=id) if secrets else None,
            etag=etag,
            created_at=doc["createdAt"],
            updated_at=stamp,
            seq=0,
        )
        with writing(self._engine), Session(self._engine) as session, session.begin():
            session.add(row)
        return Stored(kind, id, doc, dict(secrets), etag)

    def get(self, kind: str, tenant: Tenant, id: str, *, with_secrets: bool = False) -> Stored | None:
        # Core, not the ORM: this is the hot path of every GET and costs a fifth as much
        with self._engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(*_one(kind, tenant, id))).first()
        return self._stored(kind, row, with_secrets=with_secrets) if row else None

    def list(self, kind: str, tenant: Tenant) -> list[Stored]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(*_COLUMNS).where(ResourceRow.kind == kind, ResourceRow.org == tenant.org,
                                        ResourceRow.sandbox == tenant.sandbox)
            ).all()
        return [self._stored(kind, row, with_secrets=False) for row in rows]

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
        with writing(self._engine), Session(self._engine) as session, session.begin():
            row = session.execute(select(ResourceRow).where(*_one(kind, tenant, id))).scalar_one_or_none()
            if row is None:
                raise NotFound(_not_found(kind, id), code="1439" if kind == "flows" else "1101",
                               resource_id=id, resource_type=kind)
            if if_etag is not None and _bare(if_etag) != _bare(row.etag):
                raise PreconditionFailed(
                    f"The supplied version '{if_etag}' does not match the current version on entity "
                    f"'{row.etag}'. Please ensure that the supplied version matches the current version on "
                    "entity and try again."
                )
            stamp = now_ms()
            etag = new_etag()
            doc = {**doc, "id": id, "createdAt": row.created_at, "updatedAt": stamp, "etag": etag,
                   "version": etag}
            values: dict[str, Any] = {
                "doc": orjson.dumps(doc).decode(),
                "etag": etag,
                "updated_at": stamp,
                "seq": row.seq + 1,
            }
            if secrets is not None:
                values["secrets"] = self._vault.seal(secrets, bound_to=id) if secrets else None
            # compare-and-swap on seq so two writers never both win
            result = session.execute(
                update(ResourceRow)
                .where(ResourceRow.kind == kind, ResourceRow.id == id, ResourceRow.seq == row.seq)
                .values(**values)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise PreconditionFailed(
                    f"The resource {id} was changed by another request; fetch it again and retry."
                )
            return Stored(kind, id, doc, dict(secrets or {}), etag)

    def delete(self, kind: str, tenant: Tenant, id: str) -> bool:
        with writing(self._engine), Session(self._engine) as session, session.begin():
            result = session.execute(delete(ResourceRow).where(*_one(kind, tenant, id)))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def _stored(self, kind: str, row: Any, *, with_secrets: bool) -> Stored:
        id, doc, sealed, etag = row
        secrets = self._vault.open(sealed, bound_to=id) if (with_secrets and sealed) else {}
        return Stored(kind, id, orjson.loads(doc), secrets, etag)


_COLUMNS = (ResourceRow.id, ResourceRow.doc, ResourceRow.secrets, ResourceRow.etag)


def _one(kind: str, tenant: Tenant, id: str) -> tuple[Any, ...]:
    """The conditions that find one resource: its key *and* its tenant, so another tenant's id is not found."""
    return (ResourceRow.kind == kind, ResourceRow.id == id, ResourceRow.org == tenant.org,
            ResourceRow.sandbox == tenant.sandbox)


def _not_found(kind: str, id: str) -> str:
    return f"The requested {kind} resource {id} is not found. Verify the resource ID before trying again."
