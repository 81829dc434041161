"""A tiny HTTPS responder for Entra user-realm discovery on port 443 of the emulator's host.

MSAL Python builds the user-realm URL from the authority's *host name only* and drops its port
(``https://{host}/common/userrealm/{user}``, MSAL issue #259), so ``acquire_token_by_username_password``
against ``https://127.0.0.1:PORT/{tenant}`` asks ``https://127.0.0.1:443``. This responder answers there. The
answer does not depend on the org, so several emulators share the port (``SO_REUSEPORT``); its certificate
comes from a machine-wide CA that every emulator adds to the ``ca_file`` bundle it publishes, so whichever
emulator answers is trusted. Binding port 443 needs root or ``CAP_NET_BIND_SERVICE``; without it the
emulator still runs and logs a warning (the password grant through MSAL then needs ``--port 443``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from urllib.parse import unquote, urlsplit

import orjson

log = logging.getLogger("crm_emulator.realm")


def realm_body(user: str) -> bytes:
    domain = user.rpartition("@")[2].lower()
    managed = domain.endswith(".onmicrosoft.com")
    return orjson.dumps(
        {
            "ver": "1.0",
            "account_type": "Managed" if managed else "Unknown",
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }
    )


async def _serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split()
        path = urlsplit(parts[1]).path if len(parts) >= 2 else ""
        if parts and parts[0] == "GET" and path.startswith("/common/userrealm/"):
            status, body = "200 OK", realm_body(unquote(path.rsplit("/", 1)[1]))
        else:
            status, body = "404 Not Found", b'{"error":"not_found"}'
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


def bind_realm_socket(host: str, port: int) -> socket.socket | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        log.warning(
            "user-realm responder not started on %s:%s (%s); MSAL's password grant needs it unless the "
            "emulator itself listens on port 443",
            host,
            port,
            exc,
        )
        return None
    return sock


async def serve_realm(sock: socket.socket, cert: str, key: str) -> asyncio.Server:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return await asyncio.start_server(_serve_one, sock=sock, ssl=context)
