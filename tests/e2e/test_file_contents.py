"""File contents in the lake (a source connection with ``downloadFiles``): each file of the rows a run lands is
stored byte for byte at ``<dataset>/_files/<column>/<file id>``, before the rows' commit, once, with a size
limit whose skipped files the run names."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, change_rows, server_env
from tests.e2e.test_lookups_and_money import flow_with

FILE = "cr6f1_contractfile"
IMAGE = "entityimage"


def start(start_emulator, tmp_path: Path, **env: str) -> Stack:
    emulator = start_emulator(scale=300, seed=11, **({"latency": 40} if "FLOWSERVICE_RUN_STALE_SECONDS" in env else {}))
    stack = Stack(emulator, tmp_path / "server", server_env(emulator, FLOWSERVICE_PAGE_SIZE="30", **env))
    stack.start()
    return stack


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    stack = start(start_emulator, tmp_path)
    yield stack
    stack.stop()


def stored(stack: Stack, column: str = FILE) -> dict[str, bytes]:
    """Key (a file id) → bytes of every file of ``column`` stored beside the dataset (one dataset per test)."""
    folders = list(stack.data_dir.rglob(f"_files/{column}"))
    assert len(folders) <= 1, folders
    if not folders:
        return {}
    return {p.name: p.read_bytes() for p in folders[0].iterdir()}


def downloads(run: dict[str, Any]) -> dict[str, int]:
    return dict(run["metrics"]["fileSummary"].get("extensions") or {})


def source_file(stack: Stack, row_id: str) -> bytes:
    with stack.emulator.client() as client:
        response = client.get(f"accounts({row_id})/{FILE}/$value")
        response.raise_for_status()
        return response.content


def assert_files_equal_the_source(stack: Stack, flow: dict[str, str]) -> dict[str, bytes]:
    rows = [r for r in stack.dataset_rows(flow) if r[FILE] is not None]
    files = stored(stack)
    assert set(files) == {r[FILE] for r in rows}
    for row in rows:
        assert len(files[row[FILE]]) == row[f"{FILE}_filesize"]
        assert files[row[FILE]] == source_file(stack, row["accountid"])
    return files


def test_a_run_stores_every_file_of_its_rows_byte_equal_and_a_second_run_downloads_none_again(stack: Stack) -> None:
    flow = flow_with(stack, "account", "accounts_files", downloadFiles=True)
    run = stack.wait(stack.trigger(flow))
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    files = assert_files_equal_the_source(stack, flow)
    assert 20 <= len(files) < 300
    images = stored(stack, IMAGE)  # counted with the files (test_image_contents.py checks them)
    assert downloads(run)["filesDownloaded"] == len(files) + len(images)
    assert downloads(run)["fileBytesDownloaded"] == sum(len(b) for b in [*files.values(), *images.values()])
    rows = stack.dataset_rows(flow)
    assert all(not isinstance(v, bytes) for r in rows for v in r.values()), "file bytes landed in the table"

    change_rows(stack.emulator, "accounts", "accountid", created=0, updated=240, deleted=20, seed=5)
    again = stack.wait(stack.trigger(flow))
    assert again["metrics"]["statusSummary"]["status"] == "success", again["metrics"]["statusSummary"]
    assert again["metrics"]["recordSummary"]["inputRecordCount"] == 240
    assert downloads(again)["filesDownloaded"] == 0
    assert downloads(again)["filesAlreadyStored"] > 0
    remaining = {r[FILE] for r in stack.dataset_rows(flow) if r[FILE] is not None}
    assert remaining < set(files), "no deleted row had a file: the seed no longer exercises deletes"
    assert stored(stack) == files  # a deleted row's file is kept (older versions of the dataset name it)


def test_a_flow_without_download_files_stores_no_file_contents(stack: Stack) -> None:
    flow = flow_with(stack, "account", "accounts_plain")
    run = stack.wait(stack.trigger(flow))
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    assert any(r[FILE] for r in stack.dataset_rows(flow))
    assert stored(stack) == {}
    assert downloads(run) == {}


def test_a_file_over_the_size_limit_is_named_in_the_run_and_not_stored(start_emulator, tmp_path: Path) -> None:
    stack = start(start_emulator, tmp_path, FLOWSERVICE_DYNAMICS_MAX_FILE_BYTES="100000")
    try:
        flow = flow_with(stack, "account", "accounts_limited", downloadFiles=True)
        run = stack.wait(stack.trigger(flow))
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        rows = [r for r in stack.dataset_rows(flow) if r[FILE] is not None]
        big = {r[FILE] for r in rows if r[f"{FILE}_filesize"] > 100000}
        small = {r[FILE] for r in rows if r[f"{FILE}_filesize"] <= 100000}
        assert big and small
        files = stored(stack)
        assert set(files) == small
        assert downloads(run)["filesSkipped"] == len(big)
        notes = [e for e in run["metrics"]["statusSummary"]["errors"] if e["code"] == "CONNECTOR-3006-200"]
        assert len(notes) == 1
        assert f"{len(big)} file(s) were not downloaded" in notes[0]["message"]
        assert "over the limit of 100000 per file" in notes[0]["message"]
        assert any(file_id in notes[0]["message"] for file_id in big)
    finally:
        stack.stop()


def test_a_server_killed_mid_run_resumes_and_ends_with_every_file_stored_once(start_emulator, tmp_path: Path) -> None:
    stack = start(
        start_emulator,
        tmp_path,
        FLOWSERVICE_RUN_STALE_SECONDS="2",
        FLOWSERVICE_COMMIT_EVERY_ROWS="60",
    )
    try:
        flow = flow_with(stack, "account", "accounts_killed", downloadFiles=True)
        run_id = stack.trigger(flow)
        assert stack.api is not None
        while True:  # until the run has landed at least one commit, and not its last
            doc = stack.api.call("GET", f"/runs/{run_id}")["items"][0]["metrics"]
            if doc["statusSummary"]["status"] in ("success", "partialSuccess", "failed"):
                break
            if doc["recordSummary"]["outputRecordCount"] > 0:
                break
            time.sleep(0.05)
        assert doc["statusSummary"]["status"] == "inProgress", "the run ended before the server could be killed"
        stack.kill()
        partly = stored(stack)
        committed = {r[FILE] for r in stack.dataset_rows(flow) if r[FILE] is not None}
        assert committed and committed <= set(partly), "a row landed before its file"
        stack.start()  # the embedded worker takes the run up again once its claim is stale
        run = stack.wait(run_id)
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        assert len(stack.dataset_rows(flow)) == 300
        files = assert_files_equal_the_source(stack, flow)
        assert set(partly) <= set(files)
        assert not list(stack.data_dir.rglob(f"_files/{FILE}/.*")), "a partial download was left beside the files"
    finally:
        stack.stop()
