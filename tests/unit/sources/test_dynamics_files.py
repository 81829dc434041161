"""File columns' companions are filled from fileattachment rows, in requests of at most 600 ids."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pyarrow as pa

from flowservice.sources.dynamics.files import IDS_PER_REQUEST, FileInfo, file_columns
from flowservice.sources.dynamics.metadata import map_attribute


class Attachments:
    """A stand-in for ``DataverseHttp`` answering ``fileattachments`` queries from a dict (logic only)."""

    def __init__(self, known: dict[str, tuple[int, str]]) -> None:
        self.known = known
        self.urls: list[str] = []
        self.settings = SimpleNamespace(max_page_bytes=1 << 20)

    def url(self, path: str, params: dict[str, str]) -> str:
        return f"{path}?$filter={params['$filter']}"

    def get_json(self, url: str, **_: Any) -> tuple[dict[str, Any], None]:
        self.urls.append(url)
        asked = [part.split("'")[0] for part in unquote(url).split("['", 1)[1].split("'")[0::2]]
        rows = [
            {"fileattachmentid": i, "filesizeinbytes": self.known[i][0], "mimetype": self.known[i][1]}
            for i in asked
            if i in self.known
        ]
        return {"value": rows}, None


def batch(ids: list[str | None]) -> pa.RecordBatch:
    columns = map_attribute({"LogicalName": "doc", "AttributeTypeName": {"Value": "FileType"}}, {}, lookup_targets=True)
    assert isinstance(columns, list)
    arrays = [pa.array(ids, pa.string()), pa.nulls(len(ids), pa.int64()), pa.nulls(len(ids), pa.string())]
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema([pa.field(c.name, c.arrow_type) for c in columns]))


def test_sizes_and_mime_types_fill_the_companions_and_empty_or_unknown_files_stay_null() -> None:
    http = Attachments({"a": (10, "application/pdf"), "b": (20, "text/plain")})
    filled = FileInfo(http, ["doc"]).fill(batch(["a", None, "b", "gone"]))  # type: ignore[arg-type]
    assert filled.column("doc_filesize").to_pylist() == [10, None, 20, None]
    assert filled.column("doc_mimetype").to_pylist() == ["application/pdf", None, "text/plain", None]
    assert filled.column("doc").to_pylist() == ["a", None, "b", "gone"]


def test_many_files_are_asked_for_in_requests_of_at_most_600_ids() -> None:
    ids = [f"f{n:04d}" for n in range(1500)]
    http = Attachments({i: (n, "application/pdf") for n, i in enumerate(ids)})
    filled = FileInfo(http, ["doc"]).fill(batch(list(ids)))  # type: ignore[arg-type]
    assert len(http.urls) == 3 and IDS_PER_REQUEST == 600
    assert filled.column("doc_filesize").to_pylist() == list(range(1500))


def test_only_file_columns_with_companions_are_filled() -> None:
    columns = map_attribute({"LogicalName": "doc", "AttributeTypeName": {"Value": "FileType"}}, {}, lookup_targets=True)
    assert isinstance(columns, list)
    assert file_columns(columns) == ["doc"]
    assert file_columns(columns[:1]) == []
