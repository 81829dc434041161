"""The identities port: API clients (id and hashed secret) and the sandboxes of each org."""

from __future__ import annotations

from typing import Protocol


class Identities(Protocol):
    def add_client(self, org: str, name: str) -> tuple[str, str]:
        """Register a client; return ``(client_id, client_secret)``. Only a hash of the secret is kept."""

    def verify_client(self, client_id: str, client_secret: str) -> str | None:
        """The client's org when the secret matches, else None."""

    def client_org(self, client_id: str) -> str | None: ...

    def add_sandbox(self, org: str, name: str) -> None: ...

    def sandbox_exists(self, org: str, name: str) -> bool: ...

    def list_sandboxes(self, org: str) -> list[str]: ...
