"""OData ``$batch`` (multipart/mixed), as Dataverse documents it in "Execute batch operations using the Web API".

A batch holds up to 1,000 operations, run one after the other in order, each answered by one part of the
``multipart/mixed`` response (boundary ``batchresponse_<guid>``). Each operation is an embedded HTTP request
whose URL may be absolute, absolute-path (``/api/data/v9.2/accounts``) or relative to the service root. Without
``Prefer: odata.continue-on-error`` the first failing operation ends the batch and its status becomes the
batch's; with it every operation runs and the batch answers 200. Change sets (nested ``multipart/mixed``
parts, transactional) are not modelled: one answers the emulator's loud 400 at its place in the batch.

A batch is one request for service protection's request count, while each operation adds its own execution
time (every operation goes through the Web API handler, which reports its work to :mod:`crm_emulator.cost`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from crm_emulator.errors import INVALID_ARGUMENT, DataverseError, bad_request, unsupported
from crm_emulator.responses import ODATA_JSON
from crm_emulator.url_limit import operation_url_length, too_long, url_too_long

MAX_OPERATIONS = 1000
BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)
BLANK_LINE = re.compile(rb"\r?\n\r?\n")
API_PATH = re.compile(r"^/api/data/(v\d+\.\d+)/?(.*)$")
Handler = Callable[[Request, str], Awaitable[Response]]
#: Response headers a part carries over from the operation's own answer (the rest belong to the batch).
PART_HEADERS = ("preference-applied", "etag", "odata-entityid", "location", "retry-after", "www-authenticate")


@dataclass
class Operation:
    """One embedded request of a batch."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    content_id: str | None = None
    change_set: bool = False


def boundary_of(content_type: str) -> str | None:
    if not content_type.lower().startswith("multipart/mixed"):
        return None
    m = BOUNDARY.search(content_type)
    return (m.group(1) or m.group(2)) if m else None


def split_parts(body: bytes, boundary: str) -> list[bytes]:
    """The parts between ``--boundary`` delimiters, each without the line break that precedes a delimiter."""
    delimiter = b"--" + boundary.encode()
    pieces = body.split(delimiter)
    if len(pieces) < 2:
        raise bad_request(f"The batch body has no part delimited by '--{boundary}'.")
    parts: list[bytes] = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            return parts
        parts.append(piece.removeprefix(b"\r\n").removeprefix(b"\n").removesuffix(b"\n").removesuffix(b"\r"))
    raise bad_request(f"The batch body does not end with '--{boundary}--'.")


def _headers(block: bytes) -> list[tuple[str, str]]:
    out = []
    for line in block.decode("utf-8", "replace").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise bad_request(f"Invalid header line '{line}' in a batch part.")
        out.append((name.strip(), value.strip()))
    return out


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    m = BLANK_LINE.search(data)
    return (data, b"") if m is None else (data[: m.start()], data[m.end() :])


def parse_operation(part: bytes) -> Operation:
    head, rest = _split_head(part)
    mime = {k.lower(): v for k, v in _headers(head)}
    content_type = mime.get("content-type", "")
    if boundary_of(content_type) is not None:
        return Operation("", "", [], b"", mime.get("content-id"), change_set=True)
    if content_type.split(";")[0].strip().lower() != "application/http":
        raise bad_request("Each batch part needs 'Content-Type: application/http' (or a change set).")
    request_head, body = _split_head(rest)
    lines = request_head.decode("utf-8", "replace").splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise bad_request("A batch part has no request line.")
    line = lines[0].strip()
    method, _, remainder = line.partition(" ")
    target, _, version = remainder.rpartition(" ")
    if not version.upper().startswith("HTTP/"):
        target, version = remainder, ""
    if not method or not target:
        raise bad_request(f"Invalid request line '{line}' in a batch part.")
    headers = _headers("\n".join(lines[1:]).encode())
    return Operation(method.upper(), target.strip(), headers, body.rstrip(b"\r\n"), mime.get("content-id"))


def parse_batch(content_type: str, body: bytes) -> list[Operation]:
    boundary = boundary_of(content_type)
    if boundary is None:
        raise bad_request("A $batch request needs 'Content-Type: multipart/mixed; boundary=batch_<id>'.")
    operations = [parse_operation(part) for part in split_parts(body, boundary)]
    if len(operations) > MAX_OPERATIONS:
        raise DataverseError(
            400,
            INVALID_ARGUMENT,
            f"The batch holds {len(operations)} requests; a batch can contain up to {MAX_OPERATIONS}.",
        )
    return operations


def api_path(target: str, outer: Request) -> tuple[str, str, str]:
    """(version, path under the service root, query) of an operation's URL."""
    parts = urlsplit(target.replace(" ", "%20"))
    path, query = parts.path, parts.query
    if parts.scheme or parts.netloc:
        if f"{parts.scheme}://{parts.netloc}" != f"{outer.url.scheme}://{outer.url.netloc}":
            raise bad_request(f"The batch operation URL '{target}' is not on this organization.")
    if not path.startswith("/"):
        version = outer.path_params.get("version", "v9.2")
        return version, path, query
    m = API_PATH.match(path)
    if m is None:
        raise bad_request(f"The batch operation URL '{target}' is not under /api/data/.")
    return m.group(1), m.group(2), query


def sub_request(outer: Request, operation: Operation, version: str, path: str, query: str) -> Request:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in operation.headers]
    names = {k for k, _ in headers}
    for name in (b"host", b"authorization"):
        if name not in names and outer.headers.get(name.decode()) is not None:
            headers.append((name, outer.headers[name.decode()].encode("latin-1")))
    full_path = f"/api/data/{version}/{path}"
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": operation.method,
        "scheme": outer.url.scheme,
        "server": outer.scope.get("server"),
        "client": outer.scope.get("client"),
        "root_path": "",
        "path": full_path,
        "raw_path": full_path.encode(),
        "query_string": query.encode("latin-1"),
        "headers": headers,
        "path_params": {"version": version, "path": path},
        "app": outer.scope.get("app"),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": operation.body, "more_body": False}

    return Request(scope, receive)


async def body_of(response: Response) -> bytes:
    if isinstance(response, StreamingResponse):
        chunks = []
        async for chunk in response.body_iterator:
            chunks.append(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
        return b"".join(chunks)
    return bytes(response.body)


def error_response(exc: DataverseError) -> Response:
    return Response(exc.body(), status_code=exc.status, media_type=ODATA_JSON, headers=exc.headers)


async def render_part(response: Response, content_id: str | None, request_id: str) -> bytes:
    """One ``application/http`` part of the batch response, in the documented shape."""
    body = await body_of(response)
    status = response.status_code
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    if status >= 400:
        lines.append(f"REQ_ID: {request_id}")
    content_type = response.headers.get("content-type")
    if body and content_type:
        if status < 300 and content_type.startswith("application/json") and "odata.streaming" not in content_type:
            content_type += "; odata.streaming=true"
        lines.append(f"Content-Type: {content_type}")
    lines.append("OData-Version: 4.0")
    entity = response.headers.get("odata-entityid")
    if entity is not None and "location" not in response.headers:
        lines.append(f"Location: {entity}")
    for name in PART_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            lines.append(f"{_title(name)}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n"


def _title(name: str) -> str:
    return {"odata-entityid": "OData-EntityId", "etag": "ETag", "www-authenticate": "WWW-Authenticate"}.get(
        name, "-".join(word.capitalize() for word in name.split("-"))
    )


async def run_batch(request: Request, handle: Handler, max_url_length: int = 65_536) -> Response:
    """Answer a ``POST $batch``: run its operations in order through ``handle(request, path)``; a ``GET`` whose
    URL is longer than ``max_url_length`` answers 414 in its part (:mod:`crm_emulator.url_limit`)."""
    if request.method != "POST":
        raise DataverseError(405, "0x80060888", f"The HTTP method '{request.method}' is not allowed on $batch.")
    operations = parse_batch(request.headers.get("content-type", ""), await request.body())
    prefer = ",".join(request.headers.getlist("prefer")).lower()
    keep_going = "odata.continue-on-error" in prefer
    boundary = f"batchresponse_{uuid.uuid4()}"
    parts: list[bytes] = []
    status = 200
    for operation in operations:
        try:
            if operation.change_set:
                raise unsupported("Change sets in $batch requests")
            version, path, query = api_path(operation.target, request)
            if path == "$batch":
                raise bad_request("A batch can't contain other batch requests.")
            origin = f"{request.url.scheme}://{request.url.netloc}"
            length = operation_url_length(operation.target, origin, f"{origin}/api/data/{version}/")
            if operation.method == "GET" and too_long(length, max_url_length):
                response = url_too_long()
            else:
                response = await handle(sub_request(request, operation, version, path, query), path)
        except DataverseError as exc:
            response = error_response(exc)
        parts.append(await render_part(response, operation.content_id, str(uuid.uuid4())))
        if response.status_code >= 400 and not keep_going:
            status = response.status_code
            break
    delimiter = f"--{boundary}\r\n".encode()
    body = b"".join(delimiter + part for part in parts) + f"--{boundary}--\r\n".encode()
    return Response(
        body,
        status_code=status,
        media_type=f"multipart/mixed; boundary={boundary}",
        headers={"OData-Version": "4.0"},
    )
