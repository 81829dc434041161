"""Versioned mapping sets on the resources table: ``PUT /mappingSets/{id}`` writes the new latest document and
keeps the one it supersedes (kind ``mappingSetVersions``, id ``{mapping id}:{version}``) in one transaction,
so a version is never lost nor written twice, whichever request wins a race."""

from __future__ import annotations

from typing import Any, cast

import orjson
from sqlalchemy import Engine, Table, delete, insert, or_, select, update

from flowservice.domain.clock import now_ms
from flowservice.domain.errors import NotFound, PreconditionFailed
from flowservice.domain.mapping import VERSIONS_KIND, version_key, version_of
from flowservice.domain.tenancy import Tenant
from flowservice.store.db import writing
from flowservice.store.resources import new_etag
from flowservice.store.tables import ResourceRow

KIND = "mappingSets"


class SqlMappingVersions:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def replace(self, tenant: Tenant, id: str, doc: dict[str, Any], *, replaces: int) -> dict[str, Any]:
        tenancy = (_T.org == tenant.org, _T.sandbox == tenant.sandbox)
        with writing(self._engine), self._engine.begin() as conn:
            row = conn.execute(
                select(_T.doc, _T.etag, _T.created_at, _T.seq).where(_T.kind == KIND, _T.id == id, *tenancy)
            ).first()
            if row is None:
                raise NotFound(f"The mapping set {id} is not found.", resource_id=id, resource_type=KIND, code="1419")
            current = orjson.loads(row.doc)
            if version_of(current) != replaces:
                raise PreconditionFailed(f"The mapping set {id} got a new version meanwhile; read it again.")
            stamp = now_ms()
            etag = new_etag()
            stored = {**doc, "id": id, "createdAt": row.created_at, "updatedAt": stamp, "etag": etag}
            # compare-and-swap on seq: of two concurrent versions, one lands and the other writes nothing
            result = conn.execute(
                update(_TABLE)
                .where(_T.kind == KIND, _T.id == id, _T.seq == row.seq)
                .values(doc=orjson.dumps(stored).decode(), etag=etag, updated_at=stamp, seq=row.seq + 1)
            )
            if result.rowcount != 1:
                raise PreconditionFailed(f"The mapping set {id} got a new version meanwhile; read it again.")
            conn.execute(
                insert(_TABLE).values(
                    kind=VERSIONS_KIND,
                    id=version_key(id, replaces),
                    org=tenant.org,
                    sandbox=tenant.sandbox,
                    doc=orjson.dumps({**current, "version": replaces}).decode(),
                    secrets=None,
                    etag=row.etag,
                    created_at=row.created_at,
                    updated_at=stamp,
                    seq=0,
                )
            )
        return stored

    def delete(self, tenant: Tenant, id: str) -> bool:
        with writing(self._engine), self._engine.begin() as conn:
            latest = conn.execute(
                select(_T.doc).where(_T.kind == KIND, _T.id == id, _T.org == tenant.org, _T.sandbox == tenant.sandbox)
            ).scalar()
            if latest is None:
                return False
            keys = [version_key(id, n) for n in range(version_of(orjson.loads(latest)))]
            conn.execute(
                delete(_TABLE).where(
                    or_(_T.kind == KIND, _T.kind == VERSIONS_KIND),
                    _T.id.in_([id, *keys]),
                    _T.org == tenant.org,
                    _T.sandbox == tenant.sandbox,
                )
            )
            return True


_TABLE = cast(Table, ResourceRow.__table__)
_T = _TABLE.c
