"""Entra ID (Azure AD) as MSAL Python talks to it, and bearer-token checks for the Web API.

Endpoints: tenant discovery (``/{tenant}/v2.0/.well-known/openid-configuration``), the v2 and v1 token
endpoints (grants ``password``, ``client_credentials``, ``refresh_token``), JWKS, user-realm discovery
(``/common/userrealm/{user}``, answering *Managed* for the org's domain), instance discovery, and the
``/oauth2/authorize`` endpoint named by the Web API's 401 challenge (interactive sign-in is not emulated).
Errors use Entra's body: ``error``, ``error_description`` starting ``AADSTSnnnn:``, ``error_codes``…
Access tokens are RS256 JWTs with ``aud`` = org URL, ``tid``, ``oid``, ``exp``.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import Response

from crm_emulator.config import EmulatorConfig

JSON = "application/json; charset=utf-8"


def load_signing_key(data_dir: Path | None) -> rsa.RSAPrivateKey:
    path = data_dir / "signing-key.pem" if data_dir else None
    if path is not None and path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path is not None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)
    return key


def _b64url_uint(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


@dataclass
class Principal:
    """Who a valid token stands for."""

    oid: str
    kind: str  # "user" or "app"
    claims: dict[str, Any]


class TokenError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Identity:
    """The tenant: its users and app, token issuing and validation."""

    def __init__(self, config: EmulatorConfig, user_oid: str, app_oid: str) -> None:
        self.config = config
        self.key = load_signing_key(config.data_dir)
        numbers = self.key.public_key().public_numbers()
        self.kid = base64.urlsafe_b64encode(uuid.uuid5(uuid.NAMESPACE_URL, str(numbers.n)).bytes).rstrip(b"=").decode()
        self.jwk = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "alg": "RS256",
        }
        self.public_key = self.key.public_key()
        self.user_oid = user_oid
        self.app_oid = app_oid
        self.generation = 0  # bumped by revoke_all(); tokens carry the generation they were issued in
        self._valid: dict[str, tuple[float, Principal]] = {}

    # --- tokens ------------------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return f"{self.config.org_url}/{self.config.tenant_id}/v2.0"

    def issue(self, kind: str, lifetime: int | None = None) -> tuple[str, dict[str, Any]]:
        now = int(time.time())
        life = self.config.token_lifetime if lifetime is None else lifetime
        claims: dict[str, Any] = {
            "aud": self.config.org_url,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + life,
            "tid": self.config.tenant_id,
            "appid": self.config.client_id,
            "azp": self.config.client_id,
            "ver": "1.0",
            "uti": uuid.uuid4().hex[:22],
            "xms_gen": self.generation,
        }
        if kind == "user":
            claims.update(
                oid=self.user_oid,
                sub=self.user_oid,
                upn=self.config.username,
                unique_name=self.config.username,
                name="Emulator Admin",
                scp="user_impersonation",
                idtyp="user",
            )
        else:
            claims.update(oid=self.app_oid, sub=self.app_oid, idtyp="app", roles=[])
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return token, claims

    def validate(self, token: str) -> Principal:
        now = time.time()
        hit = self._valid.get(token)
        if hit is not None:
            exp, principal = hit
            if exp <= now:
                raise TokenError("expired")
            if principal.claims.get("xms_gen", 0) < self.generation:
                raise TokenError("revoked")
            return principal
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                audience=self.allowed_audiences(),
                options={"require": ["exp", "aud", "tid", "oid"]},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid: {exc}") from exc
        if claims.get("xms_gen", 0) < self.generation:
            raise TokenError("revoked")
        principal = Principal(claims["oid"], claims.get("idtyp", "app"), claims)
        if len(self._valid) > 5000:
            self._valid.clear()
        self._valid[token] = (float(claims["exp"]), principal)
        return principal

    def allowed_audiences(self) -> list[str]:
        org = self.config.org_url
        return [org, org + "/"]

    def revoke_all(self) -> None:
        """Make every token issued so far fail as expired (the ``token_expiry`` fault with ``revoke``)."""
        self.generation += 1

    # --- Entra endpoints ---------------------------------------------------------------------------------
    def tenant_ok(self, tenant: str) -> bool:
        return tenant.lower() in (self.config.tenant_id, "organizations", "common", self.config.domain)

    def openid_configuration(self, tenant: str, v2: bool = True) -> Response:
        if not self.tenant_ok(tenant):
            return self.error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you "
                "have the correct tenant ID and are signing into the correct cloud.",
            )
        base = f"{self.config.org_url}/{self.config.tenant_id}"
        v = "/v2.0" if v2 else ""
        doc = {
            "token_endpoint": f"{base}/oauth2{v}/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery{v}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer if v2 else f"{self.config.org_url}/{self.config.tenant_id}/",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/openid/userinfo",
            "authorization_endpoint": f"{base}/oauth2{v}/authorize",
            "device_authorization_endpoint": f"{base}/oauth2{v}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2{v}/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return Response(orjson.dumps(doc), media_type=JSON)

    def keys(self) -> Response:
        return Response(orjson.dumps({"keys": [self.jwk]}), media_type=JSON)

    def userrealm(self, user: str) -> Response:
        domain = user.rpartition("@")[2].lower()
        known = domain == self.config.domain
        body = {
            "ver": "1.0",
            "account_type": "Managed" if known else "Unknown",
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }
        return Response(orjson.dumps(body), media_type=JSON)

    def instance_discovery(self, request: Request) -> Response:
        host = self.config.authority_host
        discovery = f"{self.config.org_url}/{self.config.tenant_id}/v2.0/.well-known/openid-configuration"
        body: dict[str, Any] = {
            "tenant_discovery_endpoint": discovery,
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
        return Response(orjson.dumps(body), media_type=JSON)

    def authorize(self, request: Request) -> Response:
        if "client_id" not in request.query_params:
            return self.error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
            )
        return self.error(
            400,
            "unsupported_response_type",
            70000,
            "Interactive sign-in is not available in the crm_emulator; use the password or client_credentials grant.",
        )

    def error(self, status: int, error: str, code: int, description: str) -> Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{self.config.org_url}/error?code={code}",
        }
        return Response(orjson.dumps(body), status_code=status, media_type=JSON)

    async def token(self, request: Request, tenant: str, v2: bool = True) -> Response:
        if not self.tenant_ok(tenant):
            return self.error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you "
                "have the correct tenant ID and are signing into the correct cloud.",
            )
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            cid, _, basic_secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", basic_secret)
        grant = form.get("grant_type")
        client_id = form.get("client_id")
        if not grant:
            return self.error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
            )
        if not client_id:
            return self.error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
            )
        public = client_id in self.config.public_client_ids
        if public and form.get("client_secret") is not None:
            return self.error(
                401,
                "invalid_client",
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            )
        if public and grant not in ("password", "refresh_token"):
            return self.error(
                400,
                "unauthorized_client",
                700016,
                f"The public client '{client_id}' may only use the password and refresh_token grants here.",
            )
        if client_id != self.config.client_id and not public:
            return self.error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.config.tenant_id}'. This can happen if the application has not been installed "
                "by the administrator of the tenant or consented to by any user in the tenant. You "
                "may have sent your authentication request to the wrong tenant.",
            )
        if "client_assertion" in form:
            return self.error(
                401,
                "invalid_client",
                700027,
                "Client assertion (certificate credentials) is not supported by the crm_emulator; "
                "use the client secret.",
            )
        secret = form.get("client_secret")
        if secret is not None and secret != self.config.client_secret:
            return self.error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                "client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        if grant == "client_credentials":
            if secret is None:
                return self.error(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                )
            resource = self._resource(form, v2, client_credentials=True)
            if isinstance(resource, Response):
                return resource
            return self._token_response("app", v2, user_flow=False)
        if grant == "password":
            resource = self._resource(form, v2, client_credentials=False)
            if isinstance(resource, Response):
                return resource
            username = form.get("username", "")
            if username.lower() != self.config.username.lower():
                return self.error(
                    400,
                    "invalid_grant",
                    50034,
                    f"The user account {{EmailHidden}} does not exist in the {self.config.tenant_id} "
                    "directory. To sign into this application, the account must be added to the "
                    "directory.",
                )
            if form.get("password") != self.config.password:
                return self.error(
                    400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password."
                )
            return self._token_response("user", v2, user_flow=True, client_info="client_info" in form)
        if grant == "refresh_token":
            try:
                claims = jwt.decode(
                    form.get("refresh_token", ""), self.public_key, algorithms=["RS256"], audience="refresh"
                )
            except jwt.InvalidTokenError:
                return self.error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
            return self._token_response(
                claims.get("kind", "user"), v2, user_flow=True, client_info="client_info" in form
            )
        return self.error(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
        )

    def _resource(self, form: dict[str, str], v2: bool, client_credentials: bool) -> str | Response:
        org = self.config.org_url
        if not v2:
            resource = form.get("resource", "").rstrip("/")
            if resource != org:
                return self.error(
                    400,
                    "invalid_resource",
                    500011,
                    f"The resource principal named {resource or '(empty)'} was not found in the tenant "
                    f"named {self.config.tenant_id}.",
                )
            return resource
        scopes = form.get("scope", "").split()
        if not scopes:
            return self.error(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
            )
        resource_scopes = [s for s in scopes if s not in ("openid", "profile", "offline_access", "email")]
        valid = {f"{org}/.default", f"{org}//.default", f"{org}/user_impersonation"}
        if client_credentials and not all(s.endswith("/.default") for s in resource_scopes):
            return self.error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scopes)} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if not resource_scopes or any(s not in valid for s in resource_scopes):
            return self.error(
                400,
                "invalid_scope",
                70011,
                f"The provided request must include a 'scope' input parameter. The provided value for "
                f"the input parameter 'scope' is not valid. The scope {' '.join(scopes)} is not valid.",
            )
        return org

    def _token_response(self, kind: str, v2: bool, user_flow: bool, client_info: bool = False) -> Response:
        token, claims = self.issue(kind)
        life = claims["exp"] - claims["iat"]
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": life,
            "ext_expires_in": life,
            "access_token": token,
        }
        if not v2:
            body = {
                "token_type": "Bearer",
                "expires_in": str(life),
                "ext_expires_in": str(life),
                "expires_on": str(claims["exp"]),
                "not_before": str(claims["nbf"]),
                "resource": self.config.org_url,
                "access_token": token,
            }
        if user_flow and kind == "user":
            body["scope"] = f"{self.config.org_url}/user_impersonation {self.config.org_url}/.default"
            now = int(time.time())
            id_claims = {
                "aud": self.config.client_id,
                "iss": self.issuer,
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": "Emulator Admin",
                "oid": self.user_oid,
                "preferred_username": self.config.username,
                "sub": self.user_oid,
                "tid": self.config.tenant_id,
                "ver": "2.0",
            }
            body["id_token"] = jwt.encode(id_claims, self.key, algorithm="RS256", headers={"kid": self.kid})
            body["refresh_token"] = jwt.encode(
                {"aud": "refresh", "kind": kind, "iat": now, "sub": self.user_oid}, self.key, algorithm="RS256"
            )
            if client_info:
                info = orjson.dumps({"uid": self.user_oid, "utid": self.config.tenant_id})
                body["client_info"] = base64.urlsafe_b64encode(info).rstrip(b"=").decode()
        return Response(orjson.dumps(body), media_type=JSON, headers={"Cache-Control": "no-store, no-cache"})
