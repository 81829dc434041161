"""Reading a response body within a limit of *decoded* bytes, whatever the remote side sends.

A ``serviceUri`` is chosen by a tenant, so a body may be endless, or a few hundred kilobytes of gzip that
inflate to gigabytes (a "bomb"). Bodies are read raw and inflated here, never more than the bytes still
allowed at a time (``zlib``'s ``max_length``), so neither the compressed nor the inflated size can exceed the
limit in memory; one byte too many refuses the answer with :class:`ResponseTooLarge`. Only the encodings we ask
for (``Accept-Encoding: gzip, deflate``) are accepted. Every chunk also checks the current deadline.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx
import pyarrow as pa

from flowservice.domain import deadlines
from flowservice.domain.errors import SourceError

ACCEPT_ENCODING = "gzip, deflate"
_STEP = 1 << 20  # inflate at most this many bytes per call


class ResponseTooLarge(SourceError):
    """An answer larger than its limit (decoded): refused, not retried."""

    status = 502
    title = "Source answer too large"


class _Inflater:
    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(31 if self._gzip else 15)
        self._first = True

    def feed(self, data: bytes, allowed: int) -> Iterator[bytes]:
        """Inflate ``data``; stop (after yielding more than ``allowed`` bytes in total) when over the limit."""
        produced = 0
        while produced <= allowed:
            ask = min(_STEP, allowed - produced + 1)
            try:
                out = self._zlib.decompress(data, ask)
            except zlib.error:
                if not (self._first and not self._gzip):
                    raise httpx.DecodingError(f"the {self.encoding} body does not inflate") from None
                self._zlib = zlib.decompressobj(-15)  # "deflate" sent as a raw stream, as some servers do
                self._first = False
                continue
            self._first = False
            produced += len(out)
            if out:
                yield out
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                data = self._zlib.unused_data
                if not data:
                    return
                self._zlib = zlib.decompressobj(31 if self._gzip else 15)  # the next gzip member
                continue
            if not data and len(out) < ask:
                return  # all input consumed and no output pending


def _content_encoding(response: httpx.Response) -> str | None:
    value = str(response.headers.get("Content-Encoding", "")).strip().lower()
    if value in ("", "identity"):
        return None
    if value not in ("gzip", "x-gzip", "deflate"):
        raise ResponseTooLarge(f"{_what(response)} uses the content encoding {value[:40]!r}, which was not asked for")
    return value


def _what(response: httpx.Response) -> str:
    return f"The answer of {response.request.url.scheme}://{response.request.url.netloc.decode('ascii', 'replace')}"


def _too_large(response: httpx.Response, limit: int, encoding: str | None) -> ResponseTooLarge:
    how = f"decompressed ({encoding}) " if encoding else ""
    return ResponseTooLarge(
        f"{_what(response)} ({response.status_code}) exceeds the limit of {limit:,} {how}bytes and was refused"
    )


def iter_limited(response: httpx.Response, limit: int) -> Iterator[bytes]:
    """The decoded body of a streamed response, chunk by chunk, refused past ``limit`` bytes."""
    encoding = _content_encoding(response)
    declared = response.headers.get("Content-Length", "")
    if encoding is None and declared.isdigit() and int(declared) > limit:
        raise _too_large(response, limit, None)
    inflater = _Inflater(encoding) if encoding else None
    raws: Iterator[bytes] | list[bytes]
    if response.is_stream_consumed and hasattr(response, "_content"):
        raws, inflater = [response.content], None  # built in memory (a mock transport): already decoded
    else:
        raws = response.iter_raw()
    size = 0
    deadline = deadlines.current()
    for raw in raws:
        if deadline is not None:
            deadline.check()
        chunks = inflater.feed(raw, limit - size) if inflater is not None else (raw,)
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _too_large(response, limit, encoding)
            yield chunk


def read_limited(response: httpx.Response, limit: int) -> bytes:
    return b"".join(iter_limited(response, limit))


def read_buffer(response: httpx.Response, limit: int) -> pa.Buffer:
    """The decoded body as one Arrow buffer, allocated once when its size is announced: a large body held by
    Python stays in the C heap of the thread that read it, while Arrow's pool hands memory back when asked (the
    Dynamics source's ``http.DataverseHttp._receive`` says more)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and "Content-Encoding" not in response.headers and int(length) <= limit:
        buffer = pa.allocate_buffer(int(length))
        sink = pa.FixedSizeBufferWriter(buffer)
        written = 0
        for chunk in iter_limited(response, limit):
            written += len(chunk)
            if written > buffer.size:
                raise httpx.RemoteProtocolError(f"body longer than the {buffer.size} bytes announced")
            sink.write(chunk)
        if written != buffer.size:
            raise httpx.RemoteProtocolError(f"body of {written} bytes, {buffer.size} announced")
        return buffer
    chunks = list(iter_limited(response, limit))  # compressed or chunked: the size is known at the end
    buffer = pa.allocate_buffer(sum(len(c) for c in chunks))
    sink = pa.FixedSizeBufferWriter(buffer)
    for chunk in chunks:
        sink.write(chunk)
    return buffer


def detached(response: httpx.Response, body: bytes) -> httpx.Response:
    """A complete response (status, headers, decoded ``body``) that no longer refers to the connection."""
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    complete = httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions={"http_version": response.extensions.get("http_version", b"HTTP/1.1")},
    )
    try:
        complete.elapsed = response.elapsed  # request sent to body read: how fast the server answered
    except RuntimeError:  # a response no client timed (tests' hand-made ones)
        pass
    return complete
