"""API clients and sandboxes. Client secrets are kept only as salted scrypt hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as token_source
import time

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flowservice.domain.errors import InvalidRequest
from flowservice.domain.tenancy import DEFAULT_SANDBOX
from flowservice.store.tables import ClientRow, SandboxRow

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# checked against when the client id is unknown, so that unknown and known ids cost the same scrypt
_DUMMY = base64.b64encode(b"\0" * 16).decode() + "$" + base64.b64encode(b"\0" * 64).decode()


def _hash(secret: str, salt: bytes) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    return base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def _check(secret: str, stored: str) -> bool:
    salt_text, _ = stored.split("$", 1)
    return hmac.compare_digest(_hash(secret, base64.b64decode(salt_text)), stored)


class SqlIdentities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_client(self, org: str, name: str) -> tuple[str, str]:
        client_id = token_source.token_hex(16)
        client_secret = "fs-" + token_source.token_urlsafe(32)
        with Session(self._engine) as session, session.begin():
            session.add(
                ClientRow(
                    client_id=client_id,
                    org=org,
                    name=name,
                    secret_hash=_hash(client_secret, os.urandom(16)),
                    created_at=int(time.time() * 1000),
                )
            )
        return client_id, client_secret

    def verify_client(self, client_id: str, client_secret: str) -> str | None:
        with Session(self._engine) as session:
            row = session.get(ClientRow, client_id)
        if row is None:
            _check(client_secret, _DUMMY)  # the same work as a known id: timing tells nothing
            return None
        return row.org if _check(client_secret, row.secret_hash) else None

    def client_org(self, client_id: str) -> str | None:
        with Session(self._engine) as session:
            row = session.get(ClientRow, client_id)
            return row.org if row else None

    def add_sandbox(self, org: str, name: str) -> None:
        if name != name.lower() or not name.replace("-", "").replace("_", "").isalnum():
            raise InvalidRequest(f"Sandbox names are lower-case letters, digits, '-' and '_'; got {name!r}.")
        try:
            with Session(self._engine) as session, session.begin():
                session.add(SandboxRow(org=org, name=name, created_at=int(time.time() * 1000)))
        except IntegrityError:
            raise InvalidRequest(f"The sandbox {name!r} already exists in org {org}.") from None

    def sandbox_exists(self, org: str, name: str) -> bool:
        if name == DEFAULT_SANDBOX:
            return True
        with Session(self._engine) as session:
            return session.get(SandboxRow, (org, name)) is not None

    def list_sandboxes(self, org: str) -> list[str]:
        with Session(self._engine) as session:
            names = session.execute(select(SandboxRow.name).where(SandboxRow.org == org)).scalars()
            return sorted({DEFAULT_SANDBOX, *names})
