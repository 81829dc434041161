"""The TLS context of every call a source makes (Dynamics: Entra ID and Dataverse): verification is always on.

Trusted roots are the system store, certifi's Mozilla bundle, and the operator's extra CA file (a private CA,
or the local emulator's). There is deliberately no way to turn verification off.
"""

from __future__ import annotations

import functools
import os
import ssl

import certifi

from flowservice.domain.errors import SourceRefused


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """One context per CA file version (a regenerated file, e.g. a restarted emulator, gets a new one)."""
    stamp: tuple[int, int] | None = None
    if ca_bundle:
        try:
            info = os.stat(ca_bundle)
        except OSError as exc:
            raise SourceRefused(f"The configured CA bundle {ca_bundle} cannot be read: {exc}") from None
        stamp = (info.st_mtime_ns, info.st_size)
    return _context(ca_bundle, stamp)


@functools.lru_cache(maxsize=8)
def _context(ca_bundle: str | None, stamp: tuple[int, int] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.load_verify_locations(cafile=certifi.where())
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise SourceRefused(f"The configured CA bundle {ca_bundle} cannot be loaded: {exc}") from None
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def certificate_problem(exc: BaseException) -> str | None:
    """The TLS verification failure inside a transport error, if that is what it is (retrying cannot help)."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None
