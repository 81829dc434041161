"""The resources port: tenant-scoped documents (connections, flows, runs, ...) with their sealed secrets."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from flowservice.domain import listing
from flowservice.domain.tenancy import Tenant


@dataclass(frozen=True)
class Stored:
    """A stored resource: the document clients see (with ``id``, ``etag``, ``createdAt``...; secret
    parameters appear there only as a mask) and, when asked for, its secrets decrypted."""

    kind: str
    id: str
    doc: dict[str, Any]
    secrets: dict[str, str]
    etag: str


#: Set by a caller on an event loop (the lane): a write of ``Resources.add`` that would have to wait for the
#: database's write lock raises :class:`WriteWouldWait` instead, having written nothing, so that the caller can
#: do it again in a thread. Where waiting cannot be ruled out (PostgreSQL: a network round trip), it always does.
writes_must_not_wait: contextvars.ContextVar[bool] = contextvars.ContextVar("writes_must_not_wait", default=False)


class WriteWouldWait(Exception):
    """The write was refused, untouched, because it would have waited (see ``writes_must_not_wait``)."""


class Resources(Protocol):
    """Tenant-scoped documents. A resource of another tenant is ``None``, never visible."""

    def add(self, kind: str, tenant: Tenant, id: str, doc: dict[str, Any], secrets: dict[str, str]) -> Stored: ...

    def get(self, kind: str, tenant: Tenant, id: str, *, with_secrets: bool = False) -> Stored | None:
        """Secrets are decrypted only when asked for (to call the source), never for API reads."""

    def list(self, kind: str, tenant: Tenant) -> list[Stored]: ...

    def page(
        self, kind: str, tenant: Tenant, query: listing.ListQuery, default_order: Callable[[dict[str, Any]], Any]
    ) -> listing.Page:
        """What ``listing.apply(query, documents of kind, default_order)`` answers (``default_order`` must be
        newest first by ``createdAt``, ties by id), without reading every document when filters allow."""

    def latest_runs(self, tenant: Tenant, flow_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The newest run document (by ``createdAt``) of each of ``flow_ids`` that has runs."""

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
        """Replace the document; ``if_etag`` (when given) must equal the current etag, else
        ``PreconditionFailed``; ``secrets=None`` keeps the stored ones."""

    def delete(self, kind: str, tenant: Tenant, id: str) -> bool: ...
