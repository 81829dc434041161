"""Tokens from Entra ID through MSAL, with the authority read from Dataverse's own 401 challenge.

The org tells us its tenant (``WWW-Authenticate: Bearer authorization_uri=https://<login host>/<tenant>/...``);
we accept that authority only when its host is on the allow-list, so a hostile ``serviceUri`` cannot make us
send a password to a login page of its choosing. Basic auth is ROPC on a public client
(``acquire_token_by_username_password``); a service principal is the client-credentials grant. Both ask for
``<serviceUri>/.default``. Messages name Entra ID's error code and description and never the secret.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, quote_plus, urlsplit

import httpx
import msal

from flowservice.domain import deadlines
from flowservice.domain.errors import FlowServiceError, SourceAuthError, SourceRefused, SourceUnavailable
from flowservice.sources.net.bodies import ACCEPT_ENCODING, read_limited
from flowservice.sources.net.guard import AddressRefused
from flowservice.sources.net.tls import certificate_problem

from .settings import DynamicsSettings
from .uri import guarded_transport

log = logging.getLogger(__name__)

AuthKind = Literal["basic", "service_principal"]

_AUTHORIZATION_URI = re.compile(r'authorization_uri\s*=\s*"?([^",\s]+)"?', re.IGNORECASE)
#: Entra ID errors that mean "try again later" rather than "these credentials are wrong".
_TRANSIENT_ENTRA_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


@dataclass(frozen=True)
class Credentials:
    kind: AuthKind
    client_id: str  # the service principal, or the public client used for ROPC
    username: str | None = None
    secret: str = ""  # the password or the client secret

    @property
    def principal(self) -> str:
        return self.username or self.client_id


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Remove every form of a secret a message might carry (raw, URL-encoded, form-encoded)."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, "***")
    return text


def authority_from_challenge(header: str | None, allowed_hosts: frozenset[str]) -> str:
    """``https://host/tenant`` from a Bearer challenge, or ``SourceRefused`` when absent or not allowed."""
    match = _AUTHORIZATION_URI.search(header or "")
    if not match:
        raise SourceRefused(
            "The serviceUri did not answer with a Dataverse bearer challenge (no authorization_uri in "
            "WWW-Authenticate); check that it is the organization URL, e.g. https://contoso.crm.dynamics.com"
        )
    parts = urlsplit(match.group(1))
    host = (parts.hostname or "").lower()
    netloc = host if parts.port in (None, 443) else f"{host}:{parts.port}"
    tenant = next((segment for segment in parts.path.split("/") if segment), "")
    if parts.scheme.lower() != "https" or not host or not tenant:
        raise SourceRefused(f"The Dataverse challenge names an unusable authority: {_printable(match.group(1), 200)}")
    if netloc not in allowed_hosts and host not in allowed_hosts:
        raise SourceRefused(
            f"The Dataverse challenge names the authority host {_printable(netloc, 120)}, which is not an allowed "
            "Entra ID login host; an operator can add it to the allowed authority hosts"
        )
    if not re.fullmatch(r"[A-Za-z0-9.\-_]+", tenant):
        raise SourceRefused(f"The Dataverse challenge names an invalid tenant: {_printable(tenant, 80)!r}")
    return f"https://{netloc}/{tenant}"


class _Reply:
    """The response shape MSAL reads (``status_code``, ``text``, ``headers``, ``raise_for_status``)."""

    def __init__(self, status_code: int, text: str, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.text = text
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise httpx.HTTPStatusError(f"HTTP {self.status_code}", request=None, response=None)  # type: ignore[arg-type]


class _MsalHttp:
    """The ``requests``-like client MSAL expects, over the same guarded transport as Dataverse.

    MSAL follows URLs that remote documents name (the user realm's federation metadata, the MEX document's
    WS-Trust endpoint): each request goes through the address guard, must be ``https``, is read within
    ``max_auth_bytes`` and obeys the token deadline. Each request has its own short-lived client, so nothing
    stays open between sign-ins. MSAL builds the user-realm URL from the authority's host name and drops its
    port (MSAL issue #259); the port is put back so every Entra call stays on the allow-listed ``host:port``.
    """

    def __init__(self, settings: DynamicsSettings, authority: str) -> None:
        self._settings = settings
        parts = urlsplit(authority)
        self._host, self._port = (parts.hostname or "").lower(), parts.port

    def _url(self, url: str) -> str:
        parts = urlsplit(url)
        if self._port and parts.port is None and (parts.hostname or "").lower() == self._host:
            return parts._replace(netloc=f"{parts.netloc}:{self._port}").geturl()
        return url

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **_: Any) -> _Reply:
        if isinstance(data, str | bytes):
            return self._request("POST", url, params=params, content=data, headers=headers)
        return self._request("POST", url, params=params, data=data, headers=headers)

    def get(self, url: str, params: Any = None, headers: Any = None, **_: Any) -> _Reply:
        return self._request("GET", url, params=params, headers=headers)

    def close(self) -> None:
        pass

    def _request(self, method: str, url: str, **kwargs: Any) -> _Reply:
        url = self._url(url)
        parts = urlsplit(url)
        host = (parts.hostname or "?").lower()
        if parts.scheme.lower() != "https":
            raise SourceRefused(f"The sign-in through Entra ID was sent to a URL on {host} that is not https")
        s = self._settings
        deadline = deadlines.current()
        read, connect = 30.0, s.connect_timeout
        if deadline is not None:
            read, connect = deadline.timeout(read), deadline.timeout(connect)
        try:
            with httpx.Client(
                transport=guarded_transport(s, 2),
                trust_env=False,
                follow_redirects=False,
                headers={"Accept-Encoding": ACCEPT_ENCODING},
            ) as client:
                request = client.build_request(method, url, timeout=httpx.Timeout(read, connect=connect), **kwargs)
                response = client.send(request, stream=True)
                try:
                    body = read_limited(response, s.max_auth_bytes)
                finally:
                    response.close()
        except AddressRefused as exc:
            why = str(exc).split(" is refused: ", 1)[-1]
            raise SourceRefused(f"The sign-in through Entra ID was sent to {host}, which is refused: {why}") from None
        headers = {
            k.lower(): v
            for k, v in response.headers.items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        }
        return _Reply(response.status_code, body.decode(response.encoding or "utf-8", "replace"), headers)


class TokenProvider:
    """Access tokens for one connection, cached and refreshed ``token_refresh_margin`` before they expire.

    Thread-safe; shared by every ``DynamicsSource`` of the connection (the service builds one per request).
    """

    def __init__(self, authority: str, credentials: Credentials, resource: str, settings: DynamicsSettings) -> None:
        self.authority = authority
        self._credentials = credentials
        self._scopes = [f"{resource}/.default"]
        self._settings = settings
        self._lock = threading.Lock()
        self._app: msal.ClientApplication | None = None
        self._token: str | None = None
        self._refresh_at = 0.0
        self._http = _MsalHttp(settings, authority)

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.time() >= self._refresh_at:
                self._acquire(force=self._token is not None)
            assert self._token is not None
            return self._token

    def refresh(self) -> str:
        """A fresh token even if the cached one looks valid (Dataverse said 401)."""
        with self._lock:
            self._acquire(force=True)
            assert self._token is not None
            return self._token

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------------------------- internals
    def _acquire(self, *, force: bool) -> None:
        with deadlines.within(
            self._settings.token_deadline_seconds, f"The sign-in through Entra ID at {self.authority}"
        ):
            result = self._call_msal(force=force)
        if not isinstance(result, dict) or "access_token" not in result:
            raise self._entra_error(result if isinstance(result, dict) else {})
        self._token = str(result["access_token"])
        lifetime = float(result.get("expires_in") or 3600)
        self._refresh_at = time.time() + lifetime - min(self._settings.token_refresh_margin, lifetime / 2)

    def _call_msal(self, *, force: bool) -> Any:
        """MSAL's answer; its exceptions become messages that name what failed, never what a server said
        (MSAL quotes bodies, e.g. a WS-Trust fault, in its exception texts)."""
        c = self._credentials
        try:
            app = self._application()
            if force:  # MSAL would hand back its cached token; drop it
                cache = app.token_cache
                for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                    cache.remove_at(item)
            if c.kind == "service_principal":
                return app.acquire_token_for_client(scopes=self._scopes)
            assert isinstance(app, msal.PublicClientApplication) and c.username is not None
            with warnings.catch_warnings():  # MSAL discourages ROPC; it is what "Basic" auth means here
                warnings.simplefilter("ignore", DeprecationWarning)
                return app.acquire_token_by_username_password(c.username, c.secret, scopes=self._scopes)
        except FlowServiceError:
            raise  # a refused address, a deadline, a body over its limit: our own message
        except httpx.HTTPError as exc:
            problem = certificate_problem(exc)
            if problem:
                raise SourceRefused(
                    f"The TLS certificate of Entra ID at {self.authority} is not trusted ({problem})"
                ) from None
            log.info("Entra ID at %s: %s", self.authority, self._scrub(repr(exc)))
            raise SourceUnavailable(
                f"Entra ID at {self.authority} could not be reached or answered an error ({type(exc).__name__})"
            ) from None
        except (ValueError, RuntimeError, KeyError, SyntaxError, msal.exceptions.MsalError) as exc:
            # SyntaxError: xml.etree's ParseError, when a federation answer is not XML
            log.info("Entra ID at %s: %s", self.authority, self._scrub(repr(exc)))
            raise SourceUnavailable(
                f"The sign-in through Entra ID at {self.authority} failed: {_msal_failure(exc)}"
            ) from None

    def _application(self) -> msal.ClientApplication:
        if self._app is None:
            c = self._credentials
            host = urlsplit(self.authority).hostname or ""
            common: dict[str, Any] = {
                "authority": self.authority,
                "http_client": self._http,
                # Instance discovery asks login.microsoftonline.com about the host; only meaningful for its own.
                "instance_discovery": host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS,
                "token_cache": msal.TokenCache(),
            }
            if c.kind == "service_principal":
                self._app = msal.ConfidentialClientApplication(c.client_id, client_credential=c.secret, **common)
            else:
                self._app = msal.PublicClientApplication(c.client_id, **common)
        return self._app

    def _entra_error(self, result: dict[str, Any]) -> SourceAuthError | SourceUnavailable:
        c = self._credentials
        error = _printable(str(result.get("error") or "unknown_error"), 60)
        description = _printable(str(result.get("error_description") or "no description"), 300)
        who = f"user {c.username}" if c.username else f"service principal {c.client_id}"
        message = self._scrub(f"Entra ID refused the sign-in of {who}: {error}: {description}")
        if error in _TRANSIENT_ENTRA_ERRORS:
            return SourceUnavailable(message)
        return SourceAuthError(message)

    def _scrub(self, text: str) -> str:
        return scrub(text, [self._credentials.secret])


def _msal_failure(exc: BaseException) -> str:
    """What an MSAL exception means, in our words (its text may quote a remote body)."""
    text = str(exc).lower()
    if "oidc discovery" in text or "authority configuration" in text or "openid" in text:
        return "its OpenID configuration could not be read; check the tenant of the organization"
    if "wstrust" in text or "ws-trust" in text or "rstr" in text or "mex" in text:
        return "the federated sign-in (the identity provider's WS-Trust endpoint) did not issue a token"
    return f"MSAL raised {type(exc).__name__}"


def _printable(text: str, limit: int) -> str:
    cleaned = "".join(c if c.isprintable() else " " for c in text).strip()
    return cleaned[:limit] + ("…" if len(cleaned) > limit else "")
