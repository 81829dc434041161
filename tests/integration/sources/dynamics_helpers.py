"""Building Dynamics sources for an emulator handle (``tests/fixtures/emulator.py``)."""

from __future__ import annotations

from typing import Any

import httpx

from flowservice.sources.dynamics import DynamicsSettings, DynamicsSource


def settings_for(emulator: Any, **overrides: Any) -> DynamicsSettings:
    """What an operator configures for the emulator: its authority host, its CA, private addresses."""
    values: dict[str, Any] = {
        "authority_hosts_extra": (emulator.authority_host,),
        "ca_bundle": str(emulator.ca_file),
        "allow_private_addresses": True,
        "public_client_id": emulator.client_id,
        "backoff_base": 0.05,
        "backoff_cap": 0.2,
    }
    values.update(overrides)
    return DynamicsSettings(**values)


def basic_source(emulator: Any, password: str | None = None, **overrides: Any) -> DynamicsSource:
    params = {
        "serviceUri": emulator.org_url,
        "username": emulator.username,
        "password": emulator.password if password is None else password,
    }
    return DynamicsSource(params, auth_kind="basic", settings=settings_for(emulator, **overrides))


def principal_source(emulator: Any, secret: str | None = None, **overrides: Any) -> DynamicsSource:
    params = {
        "serviceUri": emulator.org_url,
        "servicePrincipalId": emulator.client_id,
        "servicePrincipalKey": emulator.client_secret if secret is None else secret,
    }
    return DynamicsSource(params, auth_kind="service_principal", settings=settings_for(emulator, **overrides))


def write_client(emulator: Any) -> httpx.Client:
    """A plain Web API client for arranging data (writes are not part of the source)."""
    client: httpx.Client = emulator.client()
    return client
