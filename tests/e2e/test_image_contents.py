"""Image contents in the lake (a source connection with ``downloadFiles``): each image of the rows a run lands
is stored full size, byte for byte, at ``<dataset>/_files/<image column>/<record id>-<image timestamp>``; a second
run that reads the same images again downloads none of them, a replaced image (a new timestamp) is a new
object downloaded once, and an image over the size limit is skipped and
counted while its row lands with its metadata."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, change_rows
from tests.e2e.test_file_contents import FILE, IMAGE, downloads, start, stored
from tests.e2e.test_lookups_and_money import flow_with

STAMP = f"{IMAGE}_timestamp"


@pytest.fixture
def stack(start_emulator, tmp_path: Path) -> Iterator[Stack]:
    stack = start(start_emulator, tmp_path)
    yield stack
    stack.stop()


def source_image(stack: Stack, row_id: str) -> bytes:
    with stack.emulator.client() as client:
        response = client.get(f"accounts({row_id})/{IMAGE}/$value", params={"size": "full"})
        response.raise_for_status()
        return response.content


def with_images(stack: Stack, flow: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Object key → row, for the landed rows that have an image."""
    return {f"{r['accountid']}-{r[STAMP]}": r for r in stack.dataset_rows(flow) if r[STAMP] is not None}


def test_a_run_stores_every_image_full_size_and_later_runs_download_only_a_replaced_one(stack: Stack) -> None:
    flow = flow_with(stack, "account", "accounts_images", downloadFiles=True)
    run = stack.wait(stack.trigger(flow))
    assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
    rows = with_images(stack, flow)
    images = stored(stack, IMAGE)
    assert set(images) == set(rows) and 20 <= len(images) < 300
    for key, row in rows.items():
        assert images[key] == source_image(stack, row["accountid"])
        assert row[f"{IMAGE}id"] and row[f"{IMAGE}_url"]  # the image's metadata lands as columns
    landed = stack.dataset_rows(flow)
    assert IMAGE not in landed[0], "the image column itself landed in the table"
    assert all(not isinstance(v, bytes) for r in landed for v in r.values()), "image bytes landed in the table"

    change_rows(stack.emulator, "accounts", "accountid", created=0, updated=240, deleted=0, seed=5)
    again = stack.wait(stack.trigger(flow))
    assert again["metrics"]["statusSummary"]["status"] == "success", again["metrics"]["statusSummary"]
    assert again["metrics"]["recordSummary"]["inputRecordCount"] == 240
    assert set(with_images(stack, flow)) == set(rows), "an update changed an image: nothing to re-download"
    assert downloads(again)["filesDownloaded"] == 0
    assert downloads(again)["filesAlreadyStored"] > 0
    assert stored(stack, IMAGE) == images

    replaced = next(iter(rows.values()))["accountid"]
    picture = base64.b64encode(b"\x89PNG\r\n\x1a\na replaced image").decode()
    with stack.emulator.client() as client:
        client.patch(f"accounts({replaced})", json={"entityimage": picture}).raise_for_status()
    third = stack.wait(stack.trigger(flow))
    assert third["metrics"]["statusSummary"]["status"] == "success", third["metrics"]["statusSummary"]
    assert downloads(third)["filesDownloaded"] == 1
    [new_key] = set(with_images(stack, flow)) - set(rows)
    assert new_key.startswith(f"{replaced}-")
    assert stored(stack, IMAGE) == {**images, new_key: b"\x89PNG\r\n\x1a\na replaced image"}  # the old one kept


def test_an_image_over_the_size_limit_is_counted_as_skipped_and_not_stored(start_emulator, tmp_path: Path) -> None:
    stack = start(start_emulator, tmp_path, FLOWSERVICE_DYNAMICS_MAX_FILE_BYTES="90")
    try:
        flow = flow_with(stack, "account", "accounts_images_limited", downloadFiles=True)
        run = stack.wait(stack.trigger(flow))
        assert run["metrics"]["statusSummary"]["status"] == "success", run["metrics"]["statusSummary"]
        rows = with_images(stack, flow)
        sizes = {key: len(source_image(stack, row["accountid"])) for key, row in rows.items()}
        big = {key for key, size in sizes.items() if size > 90}
        small = set(sizes) - big
        assert big and small, "the emulator's thumbnails no longer straddle the limit"
        assert set(stored(stack, IMAGE)) == small
        files = [r for r in stack.dataset_rows(flow) if r[FILE] is not None]  # every contract file is over 90 bytes
        assert stored(stack) == {}
        assert downloads(run)["filesSkipped"] == len(big) + len(files)
        assert downloads(run)["filesDownloaded"] == len(small)
        notes = [e for e in run["metrics"]["statusSummary"]["errors"] if e["code"] == "CONNECTOR-3006-200"]
        assert len(notes) == 1 and "over the limit of 90 per file" in notes[0]["message"]
    finally:
        stack.stop()
