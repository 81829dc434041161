"""File columns land as their metadata (file id, name, size, MIME type), never their contents: a flow of
``account`` carries ``cr6f1_contractfile`` and its companions, equal to what the file's download announces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, server_env

FILE = "cr6f1_contractfile"


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    emulator = start_emulator(scale=200, seed=11)
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_PAGE_SIZE="60"))
    stack.start()
    yield stack
    stack.stop()


def test_a_flow_lands_file_ids_names_sizes_and_mime_types_and_no_file_content(stack: Stack) -> None:
    api = stack.api
    assert api is not None
    connection = stack.connection()
    described = api.call(
        "GET", f"/connections/{connection}/explore", params={"objectType": "table", "object": "account"}
    )
    columns = {c["name"]: c for c in described["schema"]["columns"]}
    assert {FILE, f"{FILE}_name", f"{FILE}_filesize", f"{FILE}_mimetype"} <= set(columns)
    assert columns[f"{FILE}_filesize"]["type"] == "long"
    assert "entityimage" not in columns  # image bytes stay out; entityimageid, _url and _timestamp are kept

    flow = stack.flow(connection, "account", "merge")
    run = stack.wait(stack.trigger(flow))
    assert run["metrics"]["statusSummary"]["status"] == "success", run
    rows = stack.dataset_rows(flow)
    assert len(rows) == 200
    with_files = [r for r in rows if r[FILE] is not None]
    assert 20 <= len(with_files) < 200
    assert all(r[f"{FILE}_filesize"] is None and r[f"{FILE}_mimetype"] is None for r in rows if r[FILE] is None)
    with stack.emulator.client() as client:
        for row in with_files[:12]:
            download = client.get(f"accounts({row['accountid']})/{FILE}/$value", headers={"Range": "bytes=0-0"})
            assert download.status_code == 206
            assert row[f"{FILE}_name"] == download.headers["x-ms-file-name"]
            assert row[f"{FILE}_filesize"] == int(download.headers["x-ms-file-size"])
            assert row[f"{FILE}_mimetype"] == download.headers["mimetype"] == "application/pdf"
    assert all(not isinstance(v, bytes) for r in rows for v in r.values()), "file or image bytes were landed"
