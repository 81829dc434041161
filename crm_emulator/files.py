"""File columns' contents and the ``fileattachment`` rows that describe them ("Use file column data", Microsoft).

A record's file column holds the file's id; its ``<column>_name`` helper the file's name. The bytes are only
served by ``GET <entity set>(<id>)/<column>/$value``, whole (200) or, with ``Range: bytes=a-b``, in chunks (206
``Partial Content``), with the documented headers ``x-ms-file-size``, ``x-ms-file-name``, ``mimetype`` (and
``x-ms-chunk-size`` on chunks). Size and MIME type are also rows of ``fileattachment`` (``fileattachmentid`` =
the file id), which the emulator computes from the file columns of the rows: ``fileattachments`` answers
``$select`` and a ``$filter`` on ``fileattachmentid`` (``eq`` or ``Microsoft.Dynamics.CRM.In``), nothing else.

A file's bytes are a pure function of its id: a PDF header, then seeded bytes, 1 KB to 256 KB long. An image
column (``entityimage``) downloads the same way; its bytes are the record's own base64 value (the thumbnail:
full-size images are not modelled, ``?size=full`` answers the same bytes). Writing an image (create or update)
gives it a new version, as Dataverse does: ``<column>_timestamp`` (.NET ticks of the write, always increasing)
and the ``Timestamp`` of ``<column>_url`` change, ``<column>id`` is kept (a new one when the record had none).
"""

from __future__ import annotations

import base64
import mimetypes
import random
import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from crm_emulator.errors import RECORD_NOT_FOUND, DataverseError, bad_request, unsupported
from crm_emulator.ids import stable_hash
from crm_emulator.responses import json_response
from crm_emulator.schema import Table

if TYPE_CHECKING:
    from crm_emulator.data import OrgData

FILE_TYPES = frozenset({"FileType"})
#: The chunk size Dataverse recommends in ``x-ms-chunk-size`` (4 MB, as in Microsoft's example).
CHUNK_SIZE = 4 * 1024 * 1024
EXPOSED = "x-ms-file-size; x-ms-file-name; x-ms-chunk-size; mimetype"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_IN = re.compile(
    r"Microsoft\.Dynamics\.CRM\.In\(PropertyName='fileattachmentid',PropertyValues=\[((?:'" + _GUID + r"',?)*)\]\)$"
)
_EQ = re.compile(r"fileattachmentid eq (" + _GUID + r")$")
PROPS = (
    "fileattachmentid",
    "filename",
    "filesizeinbytes",
    "mimetype",
    "regardingfieldname",
    "objecttypecode",
    "_objectid_value",
    "createdon",
)


_TICKS_AT_EPOCH = 621355968000000000  # .NET ticks (100 ns since 0001-01-01) of 1970-01-01


def version_images(table: Table, written: dict[str, Any], values: dict[str, Any], now: datetime) -> None:
    """Set the helpers of every image column in ``written`` (a create's or an update's payload) in ``values``."""
    for column in table.columns:
        if column.type_name != "ImageType" or column.name not in written:
            continue
        name, row_id = column.name, values.get(table.primary_id)
        if not {f"{name}_timestamp", f"{name}_url", f"{name}id"} <= set(table.by_prop):
            continue
        if not written[name]:
            values.update({f"{name}_timestamp": None, f"{name}_url": None, f"{name}id": None})
            continue
        ticks = _TICKS_AT_EPOCH + int((now - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10_000_000
        stamp = max(ticks, int(values.get(f"{name}_timestamp") or 0) + 1)
        values[f"{name}_timestamp"] = stamp
        values[f"{name}_url"] = (
            f"/Image/download.aspx?Entity={table.logical_name}&Attribute={name}&Id={row_id}&Timestamp={stamp}"
        )
        values[f"{name}id"] = values.get(f"{name}id") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{row_id}/{name}"))


def _sized(file_id: str) -> tuple[random.Random, int]:
    rng = random.Random(stable_hash("file", file_id.lower()))
    return rng, rng.randint(1024, 256 * 1024)


def file_size(file_id: str) -> int:
    """The size of :func:`content`, without making the bytes (a ``fileattachment`` read needs only this)."""
    return _sized(file_id)[1]


def content(file_id: str) -> bytes:
    rng, size = _sized(file_id)
    head = b"%PDF-1.7\n%emulated file " + file_id.encode() + b"\n"
    return head + rng.randbytes(size - len(head))


def mime_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class Files:
    """The file columns of the org's rows: their contents and their ``fileattachment`` rows."""

    def __init__(self, data: OrgData) -> None:
        self.data = data
        self.columns = [
            (t, c) for t in data.catalog.tables if t.has_rows for c in t.columns if c.type_name in FILE_TYPES
        ]

    def file_of(self, table: Table, row_id: str, column: str) -> tuple[str, str, str | None] | None:
        """(file id, file name, the record's ``createdon``) of ``column`` of a record; ``None`` when empty."""
        item = self.data.get(table.logical_name, row_id)
        if item is None:
            raise DataverseError(404, RECORD_NOT_FOUND, f"{table.logical_name} With Id = {row_id} Does Not Exist")
        values = self.data.values(table.logical_name, item)
        file_id, created = values.get(column), values.get("createdon")
        stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(created, datetime) else None
        return (str(file_id), str(values.get(f"{column}_name") or file_id), stamp) if file_id else None

    def image_of(self, table: Table, row_id: str, column: str) -> tuple[bytes, str] | None:
        """An image column's bytes: the record's own (thumbnail) value; full-size images are not modelled."""
        item = self.data.get(table.logical_name, row_id)
        if item is None:
            raise DataverseError(404, RECORD_NOT_FOUND, f"{table.logical_name} With Id = {row_id} Does Not Exist")
        value = self.data.values(table.logical_name, item).get(column)
        return (base64.b64decode(value), f"{column}.png") if isinstance(value, str) and value else None

    def value(self, request: Request, table: Table, row_id: str, column: str) -> Response:
        """``GET …(<id>)/<column>/$value``: the whole file, or the chunk a ``Range`` header asks for."""
        col = table.by_name.get(column)
        if col is None or col.type_name not in FILE_TYPES | {"ImageType"}:
            raise bad_request(f"The property '{column}' of {table.logical_name} is not a file or image column.")
        found = self.image_of(table, row_id, column) if col.type_name == "ImageType" else None
        if found is None:
            attached = self.file_of(table, row_id, column) if col.type_name in FILE_TYPES else None
            found = (content(attached[0]), attached[1]) if attached is not None else None
        if found is None:
            raise DataverseError(
                404, RECORD_NOT_FOUND, f"No file attachment found for attribute: {column} EntityId: {row_id}."
            )
        data, name = found
        headers = {
            "x-ms-file-size": str(len(data)),
            "x-ms-file-name": name,
            "mimetype": mime_type(name),
            "Access-Control-Expose-Headers": EXPOSED,
            "OData-Version": "4.0",
        }
        wanted = request.headers.get("range")
        if wanted is None:
            return Response(data, media_type="application/octet-stream", headers=headers)
        m = _RANGE.match(wanted.strip())
        if m is None or int(m.group(1)) >= len(data):
            raise bad_request(f"The Range header '{wanted}' is not a byte range of this {len(data)}-byte file.")
        start = int(m.group(1))
        end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
        headers["x-ms-chunk-size"] = str(CHUNK_SIZE)
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Response(data[start : end + 1], status_code=206, media_type="application/octet-stream", headers=headers)

    def attachment(self, file_id: str) -> dict[str, Any] | None:
        """The ``fileattachment`` row of a file id: generated file ids end with their row's index."""
        index = int(file_id[-12:], 16)
        for table, column in self.columns:
            rows = self.data.rows[table.logical_name]
            if index >= rows.count:
                continue
            row_id = rows.ids.id(index)
            found = self.file_of(table, row_id, column.name)
            if found is None or found[0].lower() != file_id.lower():
                continue
            name = found[1]
            return {
                "fileattachmentid": file_id.lower(),
                "filename": name,
                "filesizeinbytes": file_size(file_id),
                "mimetype": mime_type(name),
                "regardingfieldname": column.name,
                "objecttypecode": table.logical_name,
                "_objectid_value": row_id,
                "createdon": found[2],
            }
        return None

    def collection(self, request: Request, api: str) -> Response:
        """``GET fileattachments`` with ``$select`` and a ``$filter`` on the key (see the module doc)."""
        params = request.query_params
        other = [k for k in params if k not in ("$select", "$filter")]
        if other:
            raise unsupported(f"Query option {other[0]} on fileattachments")
        text = params.get("$filter", "").strip()
        m_in, m_eq = _IN.match(text), _EQ.match(text)
        if m_in is not None:
            ids = [v.strip("'") for v in m_in.group(1).split(",") if v]
        elif m_eq is not None:
            ids = [m_eq.group(1)]
        else:
            raise unsupported("fileattachments without a $filter on fileattachmentid (eq or In)")
        select = [p for p in params.get("$select", "").split(",") if p]
        unknown = [p for p in select if p not in PROPS]
        if unknown:
            raise bad_request(
                f"Could not find a property named '{unknown[0]}' on type 'Microsoft.Dynamics.CRM.fileattachment'."
            )
        rows = []
        for file_id in dict.fromkeys(i.lower() for i in ids):
            row = self.attachment(file_id)
            if row is not None:
                keep = set(select) | {"fileattachmentid"} if select else set(PROPS)
                rows.append({k: v for k, v in row.items() if k in keep})
        context = f"{api}$metadata#fileattachments" + (f"({','.join(select)})" if select else "")
        return json_response({"@odata.context": context, "value": rows})
