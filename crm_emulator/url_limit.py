"""The longest URL the Web API takes: 32 KB for a ``GET``, 64 KB for a ``GET`` inside ``$batch``.

Microsoft documents both figures ("Query data using the Web API", reference §1.1) but not the answer to a
longer one. Dataverse sits behind IIS, whose HTTP.sys refuses a request line that is too long before any
application code runs: ``414`` with a small HTML body, no OData error, no ``OData-Version``. The emulator
answers the same way, before authentication, so a client cannot mistake it for a Dataverse error it could
parse. Inside ``$batch`` the operation's part answers ``414`` instead (the batch itself was accepted).
"""

from __future__ import annotations

from starlette.responses import Response

URL_TOO_LONG = (
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
    b"<HTML><HEAD><TITLE>Request URL Too Long</TITLE>\r\n"
    b'<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n'
    b"<BODY><h2>Request URL Too Long</h2>\r\n<hr><p>HTTP Error 414. The request URL is too long.</p>\r\n"
    b"</BODY></HTML>\r\n"
)


def too_long(length: int, limit: int) -> bool:
    return length > limit


def url_too_long() -> Response:
    return Response(URL_TOO_LONG, status_code=414, media_type="text/html; charset=us-ascii")


def operation_url_length(target: str, origin: str, service_root: str) -> int:
    """The absolute URL's length of a batch operation's target (absolute, absolute-path or relative)."""
    if "://" in target.split("?", 1)[0]:
        return len(target)
    if target.startswith("/"):
        return len(origin) + len(target)
    return len(service_root) + len(target)
