"""The sources this server can read: connection spec id → source package. Adding a source is its package under
``sources/`` (exposing ``SOURCE``) and one line in ``SOURCES``; ``bootstrap`` loads each package's connection
spec with the others and builds the one ``SourceFactory`` the services use, which dispatches on the spec id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from flowservice.domain.errors import InvalidRequest
from flowservice.ports import SourceClient, SourceFactory
from flowservice.sources import SourcePackage, dynamics

SOURCES: tuple[SourcePackage[Any], ...] = (
    dynamics.SOURCE,  # Microsoft Dynamics 365 / Dataverse
)


class SourceRegistry(Mapping[str, SourcePackage[Any]]):
    """``{connection spec id: source package}``; tests add sources with :meth:`with_sources`."""

    def __init__(self, packages: Iterable[SourcePackage[Any]] = SOURCES) -> None:
        self._packages: dict[str, SourcePackage[Any]] = {}
        for package in packages:
            if package.spec_id in self._packages:
                raise ValueError(f"Two sources register the connection spec {package.spec_id}")
            self._packages[package.spec_id] = package

    def __getitem__(self, spec_id: str) -> SourcePackage[Any]:
        return self._packages[spec_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._packages)

    def __len__(self) -> int:
        return len(self._packages)

    def with_sources(self, *packages: SourcePackage[Any]) -> SourceRegistry:
        return SourceRegistry([*self._packages.values(), *packages])

    @property
    def connection_specs(self) -> list[Path]:
        """The connection spec files of the registered sources."""
        return [package.connection_spec for package in self._packages.values()]

    def factory(self) -> SourceDispatch:
        """Every source's factory, each built from its own settings (read from the environment)."""
        return SourceDispatch({spec_id: package.build() for spec_id, package in self._packages.items()})


class SourceDispatch:
    """The ``SourceFactory`` the services use: a client comes from the factory of its connection spec's source,
    and releasing a connection's state (``invalidate``), or its share of the connection's limits (``share``), reaches
    every source that keeps some."""

    def __init__(self, factories: Mapping[str, SourceFactory]) -> None:
        self.factories = dict(factories)

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> SourceClient:
        factory = self.factories.get(spec_id)
        if factory is None:
            raise InvalidRequest(f"The connection spec {spec_id} has no source on this server")
        return factory(spec_id, auth_spec_name, params)

    def invalidate(self, connection_id: str) -> None:
        for factory in self.factories.values():
            invalidate = getattr(factory, "invalidate", None)
            if invalidate is not None:
                invalidate(connection_id)

    def share(self, connection_id: str, processes: int) -> None:
        """``processes`` processes (this one among them) read the connection at once: sources that pace their
        requests keep this process to its share (the worker's heartbeat counts them)."""
        for factory in self.factories.values():
            share = getattr(factory, "share", None)
            if share is not None:
                share(connection_id, processes)
