"""A ``GET`` whose URL is too long for Dataverse, sent as the one operation of a ``$batch``.

Microsoft caps a ``GET``'s URL at 32 KB and documents ``$batch`` for longer ones: a ``GET`` inside a batch may
have 64 KB ("Query data using the Web API", ``docs/adding-a-source.md`` says why this and not split selects).
A table with a thousand columns needs a ``$select`` of that size, and so does every ``@odata.nextLink`` of it
(the link repeats the query). :class:`~.http.DataverseHttp` sends every such URL through here and gets back
the part's own status, headers and body, so statuses, retries and paging work exactly as for a plain ``GET``.

Such a table's rows are wide too (~50 bytes per property and row): a 5,000-row page of 1,200 columns would be
about 300 MB, beyond any page limit. :func:`wide_page_size` caps a read's page size at ``CELLS_PER_PAGE``
values, which leaves tables of up to 120 columns (``account`` has 118 properties) at Dataverse's 5,000 rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import pyarrow as pa

from flowservice.domain.errors import SourceRefused
from flowservice.sources.net.bodies import ResponseTooLarge, detached, read_limited

MAX_GET_URL_LENGTH = 32_768
MAX_BATCH_URL_LENGTH = 65_536
#: Bytes of the multipart envelope around a part's body that a body limit allows for.
ENVELOPE_BYTES = 16 * 2**10
#: Headers of ours that belong to the outer request, not to the operation.
_OUTER_ONLY = frozenset({"authorization", "content-type", "content-length", "accept-encoding", "user-agent", "host"})
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
_BLANK = re.compile(rb"\r?\n\r?\n")
_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3})")
#: Headers of a batch answer that describe its multipart body, not the operation's answer inside it.
_ENTITY_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "transfer-encoding"})

CELLS_PER_PAGE = 600_000
#: (status, headers, body) of the batch's one operation.
Part = tuple[int, list[tuple[str, str]], bytes]


def wide_page_size(page_size: int, columns: int) -> int:
    """``page_size`` rows, or fewer when ``columns`` properties per row would make a page too large."""
    return max(1, min(page_size, CELLS_PER_PAGE // max(columns, 1)))


def needs_batch(url: str) -> bool:
    return len(url) > MAX_GET_URL_LENGTH


def request_body(url: str, headers: Mapping[str, str]) -> tuple[str, bytes]:
    """``(Content-Type, body)`` of a batch holding ``GET url`` with the operation's own ``headers``."""
    if len(url) > MAX_BATCH_URL_LENGTH:
        raise SourceRefused(
            f"A Dataverse query URL of {len(url):,} characters exceeds even the {MAX_BATCH_URL_LENGTH:,} a GET "
            "inside $batch may have; select fewer columns."
        )
    boundary = f"batch_{uuid.uuid4()}"
    lines = [
        f"--{boundary}",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
        "",
        f"GET {url} HTTP/1.1",
        "Accept: application/json",
        *(f"{k}: {v}" for k, v in headers.items() if k.lower() not in _OUTER_ONLY and k.lower() != "accept"),
        "",
        "",
        f"--{boundary}--",
        "",
    ]
    return f"multipart/mixed; boundary={boundary}", "\r\n".join(lines).encode()


def outer_headers(headers: Mapping[str, str], content_type: str) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k.lower() == "authorization"}
    out["Content-Type"] = content_type
    return out


def boundary_of(content_type: str) -> str | None:
    if not content_type.lower().startswith("multipart/mixed"):
        return None
    m = _BOUNDARY.search(content_type)
    return (m.group(1) or m.group(2)) if m else None


def first_part(content_type: str, body: bytes) -> Part | None:
    """The first operation's answer in a batch response, or ``None`` when the answer is not a batch (a 401 or
    429 of the batch request itself, which the caller handles like any other answer)."""
    boundary = boundary_of(content_type)
    if boundary is None:
        return None
    pieces = body.split(b"--" + boundary.encode())
    if len(pieces) < 3:
        raise SourceRefused("Dataverse answered a $batch without a complete part.")
    part = pieces[1].removeprefix(b"\r\n").removeprefix(b"\n")
    mime = _BLANK.search(part)
    if mime is None:
        raise SourceRefused("Dataverse answered a $batch part without headers.")
    embedded = part[mime.end() :]
    head = _BLANK.search(embedded)
    head_text, content = (embedded, b"") if head is None else (embedded[: head.start()], embedded[head.end() :])
    lines = head_text.split(b"\n")
    status = _STATUS.match(lines[0].strip())
    if status is None:
        raise SourceRefused("Dataverse answered a $batch part without a status line.")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep and name.strip():
            headers.append((name.strip(), value.strip()))
    if content.endswith(b"\r\n"):
        content = content[:-2]
    elif content.endswith(b"\n"):
        content = content[:-1]
    return int(status.group(1)), headers, content


@dataclass(frozen=True)
class Batch:
    """Sends one long ``GET`` as a batch on ``client`` (the connection's own, with its guard and TLS)."""

    client: httpx.Client
    api_root: str
    origin: str
    max_error_bytes: int

    def receive(
        self, url: str, headers: Mapping[str, str], timeout: httpx.Timeout, *, buffered: bool, limit: int
    ) -> tuple[httpx.Response, pa.Buffer | None]:
        """What ``DataverseHttp._receive`` returns for ``url``: the operation's answer (status, headers, body
        within ``limit``) as if it had been sent alone; the batch's own answer when it holds no part."""
        content_type, payload = request_body(url, headers)
        request = self.client.build_request(
            "POST",
            self.api_root + "$batch",
            headers=outer_headers(headers, content_type),
            content=payload,
            timeout=timeout,
        )
        response = self.client.send(request, stream=True)
        try:
            allowed = limit + ENVELOPE_BYTES if response.is_success else self.max_error_bytes
            content = read_limited(response, allowed)
        finally:
            response.close()
        part = first_part(response.headers.get("Content-Type", ""), content)
        if part is None:
            return detached(response, content), None
        status, part_headers, body = part
        if status < 300 and len(body) > limit:
            raise ResponseTooLarge(f"A $batch answer of {self.origin} exceeds the limit of {limit:,} bytes")
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _ENTITY_HEADERS]
        success = status < 300
        inner = httpx.Response(
            status, headers=kept + part_headers, content=b"" if buffered and success else body, request=request
        )
        return inner, (pa.py_buffer(body) if buffered and success else None)
