"""A page of records as a streamed body, rendered a chunk of rows at a time, then the read-ahead of the next."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from crm_emulator.cost import record_rows
from crm_emulator.data import Item, OrgData
from crm_emulator.readahead import ReadAhead
from crm_emulator.records import Renderer
from crm_emulator.rendered import CHUNK
from crm_emulator.responses import ODATA_JSON, odata_headers

log = logging.getLogger("crm_emulator")
CHUNK_ROWS = CHUNK  # rows rendered and sent per body chunk: one render-cache chunk


class PageStream:
    """Streams pages and counts the records served (the server's stats read the count around each request)."""

    def __init__(self, data: OrgData) -> None:
        self.readahead = ReadAhead(data)
        self.records_served = 0

    def stream(
        self,
        head: dict[str, Any],
        items: list[Item],
        tail: dict[str, Any],
        renderer: Renderer,
        headers: dict[str, str],
        extra: list[bytes] | None = None,
        then: Callable[[], None] | None = None,
    ) -> Response:
        prefix = orjson.dumps(head)[:-1] + b',"value":['
        suffix = b"]" + (b"," + orjson.dumps(tail)[1:] if tail else b"}")
        self.records_served += len(items)
        record_rows(len(items) + len(extra or []), len(renderer.props))

        async def body() -> AsyncIterator[bytes | memoryview]:
            yield prefix
            first = True
            for start in range(0, len(items), CHUNK_ROWS):
                pieces = renderer.render_many(items[start : start + CHUNK_ROWS])
                if len(pieces) == 1:  # one run of cached rows: send the slice as it is
                    if not first:
                        yield b","
                    yield pieces[0]
                elif pieces:
                    yield b",".join(pieces if first else [b"", *pieces])
                if pieces:
                    first = False
            for piece in extra or []:
                yield piece if first else b"," + piece
                first = False
            yield suffix
            if then is not None:
                try:
                    then()
                except Exception:  # an optimisation must never break a response that is already sent
                    log.exception("read-ahead failed")

        return StreamingResponse(body(), media_type=ODATA_JSON, headers=odata_headers(headers))

    def read_ahead(
        self, renderer: Renderer, items: list[Item], page_size: int, sequential: bool
    ) -> Callable[[], None] | None:
        """Once a fast-path page with a nextLink is sent, render the next one in its shape (:mod:`readahead`)."""
        if not sequential or not items:
            return None
        table = renderer.table.logical_name
        return lambda: self.readahead.after_page(table, items[-1], page_size, renderer.shape)
