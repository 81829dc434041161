"""Microsoft Dynamics 365 / Dataverse as a source: the only package that knows the Dataverse Web API.

``SOURCE`` registers it (``sources/registry.py``): its connection spec (``dynamics-online.json``, here), its
settings (:class:`DynamicsEnvironment`, ``FLOWSERVICE_DYNAMICS_*``) and one :class:`DynamicsSourceFactory`
built from them, through which the services open a :class:`DynamicsSource` per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowservice.domain.catalogue import DYNAMICS_SPEC_ID
from flowservice.domain.errors import InvalidRequest
from flowservice.sources import SourcePackage

from .auth import AuthKind
from .cache import CACHE, ConnectionCache, clear_all
from .settings import DEFAULT_PUBLIC_CLIENT_ID, MICROSOFT_AUTHORITY_HOSTS, DynamicsEnvironment, DynamicsSettings
from .source import DynamicsSource

AUTH_KINDS: dict[str, AuthKind] = {
    "basic authentication for dynamics-online": "basic",
    "service principal key based authentication": "service_principal",
    "service principal based authentication": "service_principal",
}

__all__ = [
    "DEFAULT_PUBLIC_CLIENT_ID",
    "DYNAMICS_SPEC_ID",
    "MICROSOFT_AUTHORITY_HOSTS",
    "SOURCE",
    "DynamicsEnvironment",
    "DynamicsSettings",
    "DynamicsSource",
    "DynamicsSourceFactory",
    "auth_kind",
    "clear_caches",
    "invalidate",
]


def auth_kind(auth_spec_name: str) -> AuthKind:
    kind = AUTH_KINDS.get(auth_spec_name.strip().lower())
    if kind is None:
        raise InvalidRequest(f"Unknown authentication spec {auth_spec_name!r} for Microsoft Dynamics")
    return kind


def invalidate(connection_key: str) -> None:
    """Forget the cached metadata, token and limiter of a connection (a full key or a bare connection id)."""
    CACHE.invalidate(connection_key)


def clear_caches() -> None:
    clear_all()


class DynamicsSourceFactory:
    """The ``SourceFactory`` port for the Dynamics connection spec."""

    def __init__(self, settings: DynamicsSettings) -> None:
        self.settings = settings
        self.cache = ConnectionCache(settings.cached_connections, settings.connection_idle_seconds)

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> DynamicsSource:
        if spec_id != DYNAMICS_SPEC_ID:
            raise InvalidRequest(f"The connection spec {spec_id} is not Microsoft Dynamics")
        return DynamicsSource(params, auth_kind=auth_kind(auth_spec_name), settings=self.settings, cache=self.cache)

    def invalidate(self, connection_id: str) -> None:
        """Release what the connection holds (token, limiter, metadata): it was patched or deleted."""
        self.cache.invalidate(connection_id)

    def share(self, connection_id: str, processes: int) -> None:
        """``processes`` processes read the connection at once: this one keeps to its share of its limits."""
        self.cache.share(connection_id, processes)


SOURCE = SourcePackage(
    spec_id=DYNAMICS_SPEC_ID,
    connection_spec=Path(__file__).with_name("dynamics-online.json"),
    settings=DynamicsEnvironment,
    factory=lambda environment: DynamicsSourceFactory(environment.source_settings()),
)
