"""The one place that wires settings → adapters → services. Nothing does I/O at import time; entry points
(api, cli, worker) call ``build`` and use what it returns."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from flowservice.domain.errors import InvalidRequest
from flowservice.services.connections import ConnectionService
from flowservice.services.identity import IdentityService
from flowservice.services.ports import SourceClient
from flowservice.services.specs import SpecCatalog
from flowservice.settings import Settings
from flowservice.store.db import make_engine, migrate
from flowservice.store.identity import SqlIdentities
from flowservice.store.resources import SqlResources
from flowservice.store.vault import Vault, load_or_create_key

log = logging.getLogger("flowservice")

DYNAMICS_SPEC_ID = "38ad80fe-8b06-4938-94f4-d4ee80266b07"


class SourceRegistry:
    """Opens a source client for a connection spec; one entry per source package."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __call__(self, spec_id: str, auth_spec_name: str, params: Mapping[str, Any]) -> SourceClient:
        if spec_id == DYNAMICS_SPEC_ID:
            from flowservice.sources import dynamics

            kind = "service_principal" if "principal" in auth_spec_name.lower() else "basic"
            return dynamics.DynamicsSource(dict(params), auth_kind=kind, settings=self.dynamics_settings())
        raise InvalidRequest(f"The connection spec {spec_id} is not a source this server can read.")

    def dynamics_settings(self) -> Any:
        from flowservice.sources import dynamics

        s = self._settings
        return dynamics.DynamicsSettings(
            authority_hosts_extra=s.extra_authority_hosts,
            ca_bundle=s.dynamics_ca_bundle,
            allow_private_addresses=s.dynamics_allow_private_addresses,
            public_client_id=s.dynamics_public_client_id,
            metadata_ttl_seconds=s.metadata_ttl_seconds,
        )

    def invalidate(self, connection_id: str) -> None:
        import sys

        dynamics = sys.modules.get("flowservice.sources.dynamics")
        if dynamics is not None:  # nothing is cached when the source was never opened
            dynamics.invalidate(connection_id)


@dataclass
class Container:
    settings: Settings
    engine: Engine
    specs: SpecCatalog
    identity: IdentityService
    connections: ConnectionService
    extra_routers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings | None = None) -> Container:
    settings = settings or Settings()
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    engine = make_engine(settings.sqlalchemy_url)
    migrate(engine)
    vault = Vault(load_or_create_key(data_dir / "secret.key", env_value=os.environ.get("FLOWSERVICE_SECRET_KEY")))
    signing_key = load_or_create_key(data_dir / "signing.key",
                                     env_value=os.environ.get("FLOWSERVICE_SIGNING_KEY"), size=32)
    specs = SpecCatalog.load()
    resources = SqlResources(engine, vault)
    identity = IdentityService(SqlIdentities(engine), signing_key, settings.token_lifetime_seconds)
    sources = SourceRegistry(settings)
    connections = ConnectionService(resources, specs, sources)
    return Container(settings, engine, specs, identity, connections)


def build_app(settings: Settings | None = None) -> Any:
    from flowservice.api.app import create_app

    return create_app(build(settings))
