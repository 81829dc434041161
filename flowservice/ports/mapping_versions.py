"""The mapping versions port: a mapping set's new version and the superseded one it keeps, in one write."""

from __future__ import annotations

from typing import Any, Protocol

from flowservice.domain.tenancy import Tenant


class MappingVersions(Protocol):
    """Writes of versioned mapping sets. The latest version is the ``mappingSets`` document; each superseded
    one is a document of ``domain.mapping.VERSIONS_KIND`` (read through ``Resources``), never changed again."""

    def replace(self, tenant: Tenant, id: str, doc: dict[str, Any], *, replaces: int) -> dict[str, Any]:
        """Make ``doc`` the latest version of mapping set ``id`` and keep the current document as version
        ``replaces``, atomically; return the stored document. ``NotFound`` when the set is gone;
        ``PreconditionFailed`` (nothing written) when its latest version is no longer ``replaces``."""

    def delete(self, tenant: Tenant, id: str) -> bool:
        """Delete the mapping set with every version it keeps; False when it did not exist."""
