"""File columns' contents (``$value``, whole and in chunks), the ``fileattachment`` rows that describe them, and
the Web API's URL limits: 32 KB for a GET, 64 KB for a GET inside ``$batch``; the opt-in tables' rows."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.tables.wide import WIDE_COLUMNS, wide_column_name

ORG = "https://127.0.0.1:8443"
API = f"{ORG}/api/data/v9.2/"

Client = Callable[[httpx.AsyncClient], Awaitable[Any]]


def run(check: Client, **config: Any) -> Any:
    app = create_app(EmulatorConfig(scale=60, **config))
    token = app.emulator.identity.issue("app")
    token = token[0] if isinstance(token, tuple) else token

    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=API, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            return await check(client)

    return asyncio.run(main())


async def a_file(client: httpx.AsyncClient) -> dict[str, Any]:
    page = await client.get(
        "accounts?$select=cr6f1_contractfile,cr6f1_contractfile_name&$filter=cr6f1_contractfile ne null&$top=3"
    )
    assert page.status_code == 200
    rows = page.json()["value"]
    assert rows
    return dict(rows[0])


def test_a_file_downloads_whole_with_its_size_name_and_mime_type_headers() -> None:
    async def check(client: httpx.AsyncClient) -> None:
        row = await a_file(client)
        answer = await client.get(f"accounts({row['accountid']})/cr6f1_contractfile/$value")
        assert answer.status_code == 200
        assert answer.headers["x-ms-file-name"] == row["cr6f1_contractfile_name"]
        assert int(answer.headers["x-ms-file-size"]) == len(answer.content) >= 1024
        assert answer.headers["mimetype"] == "application/pdf"
        assert answer.content.startswith(b"%PDF-")

    run(check)


def test_a_file_downloads_in_chunks_that_join_to_the_whole_file() -> None:
    async def check(client: httpx.AsyncClient) -> None:
        row = await a_file(client)
        url = f"accounts({row['accountid']})/cr6f1_contractfile/$value"
        whole = (await client.get(url)).content
        chunks, start = [], 0
        while start < len(whole):
            part = await client.get(url, headers={"Range": f"bytes={start}-{start + 9999}"})
            assert part.status_code == 206
            assert part.headers["Content-Range"].startswith(f"bytes {start}-")
            assert part.headers["x-ms-chunk-size"] == str(4 * 1024 * 1024)
            chunks.append(part.content)
            start += len(part.content)
        assert b"".join(chunks) == whole

    run(check)


def test_an_image_column_downloads_the_bytes_of_its_base64_value() -> None:
    async def check(client: httpx.AsyncClient) -> None:
        page = await client.get("accounts?$select=entityimage&$filter=entityimage ne null&$top=1")
        row = page.json()["value"][0]
        answer = await client.get(f"accounts({row['accountid']})/entityimage/$value")
        assert answer.status_code == 200
        assert answer.content == base64.b64decode(row["entityimage"])
        assert answer.headers["mimetype"] == "image/png"

    run(check)


def test_writing_an_image_gives_it_a_newer_timestamp_and_url_and_keeps_its_id() -> None:
    select = "accountid,entityimage_timestamp,entityimage_url,entityimageid"

    async def check(client: httpx.AsyncClient) -> None:
        page = await client.get(f"accounts?$select={select}&$filter=entityimage ne null&$top=1")
        before = page.json()["value"][0]
        image = base64.b64encode(b"\x89PNG\r\n\x1a\na replaced image").decode()
        written = await client.patch(f"accounts({before['accountid']})", json={"entityimage": image})
        assert written.status_code == 204
        after = (await client.get(f"accounts({before['accountid']})?$select={select}")).json()
        assert after["entityimage_timestamp"] > before["entityimage_timestamp"]
        assert after["entityimage_url"].endswith(f"&Timestamp={after['entityimage_timestamp']}")
        assert after["entityimageid"] == before["entityimageid"]
        answer = await client.get(f"accounts({before['accountid']})/entityimage/$value?size=full")
        assert answer.content == b"\x89PNG\r\n\x1a\na replaced image"
        cleared = await client.patch(f"accounts({before['accountid']})", json={"entityimage": None})
        assert cleared.status_code == 204
        gone = (await client.get(f"accounts({before['accountid']})?$select={select}")).json()
        assert gone["entityimage_timestamp"] is None and gone["entityimageid"] is None

    run(check)


def test_an_empty_file_column_answers_404_and_a_non_file_column_400() -> None:
    async def check(client: httpx.AsyncClient) -> None:
        page = await client.get("accounts?$select=name&$filter=cr6f1_contractfile eq null&$top=1")
        empty = page.json()["value"][0]["accountid"]
        missing = await client.get(f"accounts({empty})/cr6f1_contractfile/$value")
        assert missing.status_code == 404 and "No file attachment found" in missing.json()["error"]["message"]
        wrong = await client.get(f"accounts({empty})/name/$value")
        assert wrong.status_code == 400

    run(check)


def test_fileattachments_describe_the_files_by_id_and_refuse_other_queries() -> None:
    async def check(client: httpx.AsyncClient) -> None:
        row = await a_file(client)
        file_id = row["cr6f1_contractfile"]
        whole = await client.get(f"accounts({row['accountid']})/cr6f1_contractfile/$value")
        condition = f"Microsoft.Dynamics.CRM.In(PropertyName='fileattachmentid',PropertyValues=['{file_id}'])"
        found = await client.get("fileattachments", params={"$filter": condition})
        assert found.status_code == 200
        (attachment,) = found.json()["value"]
        assert attachment["filesizeinbytes"] == int(whole.headers["x-ms-file-size"])
        assert attachment["mimetype"] == "application/pdf"
        assert (attachment["filename"], attachment["regardingfieldname"]) == (
            row["cr6f1_contractfile_name"],
            "cr6f1_contractfile",
        )
        assert attachment["_objectid_value"] == row["accountid"]
        refused = await client.get("fileattachments")
        assert refused.status_code == 400

    run(check)


def test_a_get_longer_than_32_kb_answers_414_and_inside_batch_it_works_up_to_64_kb() -> None:
    select = ",".join(["cr6f1_widerecordid", *(wide_column_name(n) for n in range(WIDE_COLUMNS))])
    url = f"{API}cr6f1_widerecords?$select={select}"
    assert 32_768 < len(url) < 65_536

    def batch(target: str) -> bytes:
        return (
            "--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"GET {target} HTTP/1.1\r\nPrefer: odata.maxpagesize=2\r\n\r\n\r\n--batch_1--\r\n"
        ).encode()

    async def check(client: httpx.AsyncClient) -> None:
        direct = await client.get(url)
        assert direct.status_code == 414 and "The request URL is too long" in direct.text
        headers = {"Content-Type": "multipart/mixed; boundary=batch_1"}
        batched = await client.post("$batch", content=batch(url), headers=headers)
        assert batched.status_code == 200 and b"HTTP/1.1 200 OK" in batched.content
        assert b'"@odata.nextLink"' in batched.content
        longer = url + "," + ",".join([wide_column_name(0)] * 1000)
        too_long = await client.post("$batch", content=batch(longer), headers=headers)
        assert too_long.status_code == 414 and b"HTTP/1.1 414" in too_long.content

    run(check, extra_tables=frozenset({"wide"}))


def test_the_opt_in_tables_have_rows_only_when_asked_for() -> None:
    async def count(client: httpx.AsyncClient) -> list[int]:
        sets = ("accountleadscollection", "activitypointers", "activityparties")
        return [len((await client.get(s)).json()["value"]) for s in sets]

    assert run(count) == [0, 0, 0]
    assert run(count, extra_tables=frozenset({"activities"})) == [30, 30, 90]
