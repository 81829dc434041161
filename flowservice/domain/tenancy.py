"""Who is calling, and which partition of the data they see.

Every stored resource belongs to exactly one ``Tenant`` (org, sandbox). A resource of another tenant is
simply not found: there is no code path that reads across tenants.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tenant:
    org: str
    sandbox: str


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, from a verified token."""

    client_id: str
    org: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls and the tenant they act in, as one authenticated value: what every route receives."""

    principal: Principal
    tenant: Tenant


DEFAULT_SANDBOX = "prod"
