"""Identity: the IMS-style token endpoint and the checks every API call makes.

Tokens are HS256 JWTs signed with a key kept in the data directory; a token names its client (the
``x-api-key``) and its org. Verification is pure CPU, so it costs microseconds per request.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from flowservice.domain.errors import FlowServiceError, Forbidden, InvalidRequest, NotFound, Unauthorized
from flowservice.domain.tenancy import Caller, Principal, Tenant
from flowservice.ports import Identities
from flowservice.services.token_guard import TokenGuard

_ISSUER = "flowservice-ims"


class InvalidClient(FlowServiceError):
    status = 401
    code = "2115"
    title = "Invalid client"


class IdentityService:
    def __init__(
        self, identities: Identities, signing_key: bytes, token_lifetime: int, guard: TokenGuard | None = None
    ) -> None:
        self._identities = identities
        self.guard = guard or TokenGuard(per_client=5, per_address=20, window=60)
        self._key = signing_key
        self._lifetime = token_lifetime
        self._sandbox_cache: set[tuple[str, str]] = set()
        self._verified: dict[str, dict[str, Any]] = {}  # token → claims: clients resend the same token

    _VERIFIED_MAX = 10_000

    # ------------------------------------------------------------------ tokens
    def issue_token(self, grant_type: str, client_id: str, client_secret: str) -> dict[str, object]:
        """Check the secret (scrypt: tens of milliseconds of CPU, so callers on an event loop run this in a
        thread, after ``guard.attempt``) and sign a token."""
        if grant_type != "client_credentials":
            raise InvalidRequest(f"Unsupported grant_type {grant_type!r}; use client_credentials.")
        org = self._identities.verify_client(client_id, client_secret)
        if org is None:
            raise InvalidClient("The client_id or client_secret is not valid.")
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "sub": client_id,
            "client_id": client_id,
            "org": org,
            "iat": now,
            "exp": now + self._lifetime,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm="HS256")
        return {"access_token": token, "token_type": "bearer", "expires_in": self._lifetime * 1000}

    def authenticate(
        self,
        authorization: str | None,
        api_key: str | None,
        org: str | None,
        sandbox: str | None,
    ) -> Caller:
        """Check the four headers in the order a gateway would; return who calls and which partition."""
        if not authorization or not authorization.strip():
            raise Unauthorized(
                "Oauth token is missing. Send 'Authorization: Bearer {ACCESS_TOKEN}'.", code="2114", title="Empty token"
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must be 'Bearer {ACCESS_TOKEN}'.", code="2115")
        claims = self._claims(token.strip())
        if not api_key:
            raise Forbidden("Api Key is required: send the header x-api-key with your client id.", code="2120")
        if api_key != claims["client_id"]:
            raise Forbidden("Api Key is invalid: x-api-key does not match the client of the access token.", code="2120")
        if not org or not org.strip():
            raise Unauthorized(
                "The header x-gw-ims-org-id is either missing or empty.",
                code="2001",
                title="Header is missing or empty",
            )
        if org != claims["org"]:
            raise Forbidden(f"The authorization token does not have access to the organization {org}.", code="2000")
        if sandbox is None or not sandbox.strip():
            raise InvalidRequest(
                "The header x-sandbox-name is missing in the request.", code="2105", title="Header is missing"
            )
        sandbox = sandbox.strip().lower()
        if (org, sandbox) not in self._sandbox_cache:
            if not self._identities.sandbox_exists(org, sandbox):
                raise NotFound(
                    f"The sandbox with the name '{sandbox}' could not be found.", code="2100", title="Sandbox not found"
                )
            self._sandbox_cache.add((org, sandbox))
        return Caller(Principal(client_id=claims["client_id"], org=org), Tenant(org, sandbox))

    def sandbox_exists(self, org: str, sandbox: str) -> bool:
        """Whether ``org`` has ``sandbox`` (remembered once seen, as for ``x-sandbox-name``)."""
        if (org, sandbox) in self._sandbox_cache:
            return True
        if not self._identities.sandbox_exists(org, sandbox):
            return False
        self._sandbox_cache.add((org, sandbox))
        return True

    def _claims(self, token: str) -> dict[str, Any]:
        """Verified claims of ``token``; a verified token is remembered until it expires."""
        claims = self._verified.get(token)
        if claims is not None and claims["exp"] > time.time():
            return claims
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["HS256"], issuer=_ISSUER, options={"require": ["exp", "iat", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            self._verified.pop(token, None)
            raise Unauthorized(
                "The access token has expired; request a new one from /ims/token/v3.", code="2115"
            ) from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token provided.", code="2115") from None
        if len(self._verified) >= self._VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    # ----------------------------------------------------------- admin (CLI)
    def create_client(self, org: str, name: str) -> dict[str, str]:
        client_id, secret = self._identities.add_client(org, name)
        return {"client_id": client_id, "client_secret": secret, "org": org, "name": name}

    def create_sandbox(self, org: str, name: str) -> None:
        self._identities.add_sandbox(org, name)

    def sandboxes(self, org: str) -> list[str]:
        """The sandbox names of ``org`` ('prod' always among them), sorted."""
        return self._identities.list_sandboxes(org)
