# ruff: noqa: E501 -- Microsoft's examples are kept verbatim, long lines included
"""OData ``$batch`` against Microsoft's own examples ("Execute batch operations using the Web API",
powerapps-docs ``developer/data-platform/webapi/execute-batch-operations-using-web-api.md``, ms.date 01/14/2023).

The requests below are the documentation's, character for character, with ``[Organization Uri]`` replaced by
the emulator's origin. The documented responses are parsed into their shape (part headers, status lines,
header names, JSON members) and compared with what the emulator answers.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import orjson

from crm_emulator.app import create_app
from crm_emulator.config import EmulatorConfig
from crm_emulator.cost import CostModel
from crm_emulator.protection import Limits

# --- verbatim from the documentation -----------------------------------------------------------------------
DOC_BATCH_REQUEST = """--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 1 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 2 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 3 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks?$select=subject HTTP/1.1


--batch_80dd1615-2a10-428a-bb6f-0e559792721f--

"""
DOC_BATCH_CONTENT_TYPE = 'multipart/mixed; boundary="batch_80dd1615-2a10-428a-bb6f-0e559792721f"'

DOC_BATCH_RESPONSE = """--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(d31ba648-c592-ed11-aad1-000d3a993550)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(d31ba648-c592-ed11-aad1-000d3a993550)


--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(d41ba648-c592-ed11-aad1-000d3a993550)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(d41ba648-c592-ed11-aad1-000d3a993550)


--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 204 No Content
OData-Version: 4.0
Location: [Organization Uri]/api/data/v9.2/tasks(d51ba648-c592-ed11-aad1-000d3a993550)
OData-EntityId: [Organization Uri]/api/data/v9.2/tasks(d51ba648-c592-ed11-aad1-000d3a993550)


--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 200 OK
Content-Type: application/json; odata.metadata=minimal; odata.streaming=true
OData-Version: 4.0

{
  "@odata.context": "[Organization Uri]/api/data/v9.2/$metadata#tasks(subject)",
  "value": [
    {
      "@odata.etag": "W/\\"77180907\\"",
      "subject": "Task 1 in batch",
      "activityid": "d31ba648-c592-ed11-aad1-000d3a993550"
    },
    {
      "@odata.etag": "W/\\"77180910\\"",
      "subject": "Task 2 in batch",
      "activityid": "d41ba648-c592-ed11-aad1-000d3a993550"
    },
    {
      "@odata.etag": "W/\\"77180913\\"",
      "subject": "Task 3 in batch",
      "activityid": "d51ba648-c592-ed11-aad1-000d3a993550"
    }
  ]
}
--batchresponse_01346794-f2e2-4d45-8cc2-f97e09fe8916--

"""

DOC_ERROR_RESPONSE = """--batchresponse_156da4b8-cd2c-4862-a911-4aaab97c001a
Content-Type: application/http
Content-Transfer-Encoding: binary

HTTP/1.1 400 Bad Request
REQ_ID: 5ecd1cb3-1730-4ffc-909c-d44c22270026
Content-Type: application/json; odata.metadata=minimal
OData-Version: 4.0

{"error":{"code":"0x80044331","message":"A validation error occurred.  The length of the 'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'."}}
--batchresponse_156da4b8-cd2c-4862-a911-4aaab97c001a--

"""

DOC_CHANGE_SET_REQUEST = """--batch_22975cad-7f57-410d-be15-6363209367ea
Content-Type: multipart/mixed; boundary="changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a"

--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 1 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a--

--batch_22975cad-7f57-410d-be15-6363209367ea
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks?$select=subject HTTP/1.1


--batch_22975cad-7f57-410d-be15-6363209367ea--

"""
DOC_CHANGE_SET_CONTENT_TYPE = 'multipart/mixed; boundary="batch_22975cad-7f57-410d-be15-6363209367ea"'


# --- a reader of multipart batch responses, independent of the emulator's writer ----------------------------
def parse_response(content_type: str | None, text: str) -> list[dict[str, Any]]:
    """Each part as {mime, status, reason, headers (names, in order), body (JSON or None)}."""
    if content_type is None:
        boundary = re.match(r"--(\S+)", text).group(1)  # type: ignore[union-attr]
    else:
        assert content_type.startswith("multipart/mixed; boundary=")
        boundary = content_type.split("boundary=", 1)[1].strip('"')
    text = text.replace("\r\n", "\n")
    pieces = text.split(f"--{boundary}")
    assert pieces[0].strip() == "" and pieces[-1].strip() == "--", "parts, then the closing delimiter"
    parts = []
    for piece in pieces[1:-1]:
        mime_block, _, http_message = piece.strip("\n").partition("\n\n")
        head, _, body = http_message.partition("\n\n")
        status_line, *header_lines = head.split("\n")
        version, status, reason = status_line.split(" ", 2)
        assert version == "HTTP/1.1"
        parts.append(
            {
                "mime": [line.split(":", 1)[0] for line in mime_block.split("\n")],
                "status": int(status),
                "reason": reason,
                "headers": [line.split(":", 1)[0] for line in header_lines],
                "body": orjson.loads(body) if body.strip() else None,
            }
        )
    return parts


def shape(value: Any) -> Any:
    """A JSON value's members, recursively (values left out)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def post_batch(app: Any, body: str, content_type: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def run() -> httpx.Response:
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}", "OData-MaxVersion": "4.0", "OData-Version": "4.0"},
        ) as api:
            return await api.post(
                "$batch",
                content=body.encode(),
                headers={"Content-Type": content_type, "Accept": "application/json", **(headers or {})},
            )

    return asyncio.run(run())


def app_with(**options: Any) -> Any:
    return create_app(EmulatorConfig(scale=100, seed=5, **options))


# --- tests -------------------------------------------------------------------------------------------------
def test_the_documented_example_answers_in_the_documented_shape_on_tables_the_emulator_has():
    """The documentation's batch, with its table swapped for one the emulator models (``task`` rows and the
    ``Account_Tasks`` collection are not), answers part for part in the documented response's shape."""
    request = (
        DOC_BATCH_REQUEST.replace("/api/data/v9.2/tasks", "/api/data/v9.2/contacts")
        .replace('"subject"', '"firstname"')
        .replace(
            ',\n  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"', ""
        )
        .replace(
            "accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks?$select=subject",
            "contacts?$select=firstname&$filter=endswith(firstname,' in batch')",
        )
    )
    response = post_batch(app_with(), request, DOC_BATCH_CONTENT_TYPE)
    documented = parse_response(None, DOC_BATCH_RESPONSE)
    answered = parse_response(response.headers["content-type"], response.text)
    assert response.status_code == 200 and response.headers["OData-Version"] == "4.0"
    assert re.fullmatch(r"multipart/mixed; boundary=batchresponse_[0-9a-f-]{36}", response.headers["content-type"])
    assert [(p["mime"], p["status"], p["reason"], p["headers"]) for p in answered] == [
        (p["mime"], p["status"], p["reason"], p["headers"]) for p in documented
    ]
    assert shape(answered[3]["body"]) == {
        "@odata.context": "str",
        "value": [{"@odata.etag": "str", "firstname": "str", "contactid": "str"}],
    }
    assert shape(documented[3]["body"])["value"][0].keys() == {"@odata.etag", "subject", "activityid"}
    assert [r["firstname"] for r in answered[3]["body"]["value"]] == [f"Task {n} in batch" for n in (1, 2, 3)]


def test_the_documented_request_verbatim_stops_at_its_first_failure_in_the_documented_error_shape():
    """Verbatim, the first operation needs ``task`` columns the emulator lacks: like Dataverse without
    ``odata.continue-on-error``, the batch stops there and takes that part's status."""
    response = post_batch(app_with(), DOC_BATCH_REQUEST, DOC_BATCH_CONTENT_TYPE)
    answered = parse_response(response.headers["content-type"], response.text)
    documented = parse_response(None, DOC_ERROR_RESPONSE)
    assert response.status_code == 400
    assert [(p["mime"], p["status"], p["reason"], p["headers"]) for p in answered] == [
        (p["mime"], p["status"], p["reason"], p["headers"]) for p in documented
    ]
    assert shape(answered[0]["body"]) == shape(documented[0]["body"]) == {"error": {"code": "str", "message": "str"}}


def test_continue_on_error_runs_every_operation_and_answers_200():
    response = post_batch(
        app_with(), DOC_BATCH_REQUEST, DOC_BATCH_CONTENT_TYPE, headers={"Prefer": "odata.continue-on-error"}
    )
    answered = parse_response(response.headers["content-type"], response.text)
    assert response.status_code == 200
    assert len(answered) == 4 and all(p["status"] >= 400 for p in answered)


def test_the_documented_change_set_example_is_refused_loudly_at_its_place():
    response = post_batch(app_with(), DOC_CHANGE_SET_REQUEST, DOC_CHANGE_SET_CONTENT_TYPE)
    (part,) = parse_response(response.headers["content-type"], response.text)
    assert response.status_code == 400 and part["status"] == 400
    assert part["body"] == {
        "error": {
            "code": "0x80060888",
            "message": "Change sets in $batch requests (not supported by the crm_emulator)",
        }
    }


def get_parts(targets: list[str], boundary: str = "batch_AAA123") -> str:
    parts = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        f"GET {target} HTTP/1.1\r\nAccept: application/json\r\n\r\n"
        for target in targets
    ]
    return "".join(parts) + f"--{boundary}--\r\n"


def test_get_parts_accept_absolute_absolute_path_and_service_root_relative_urls_and_keep_their_prefer():
    app = app_with()
    org = app.emulator.config.org_url
    body = get_parts(
        [
            f"{org}/api/data/v9.2/accounts?$select=name&$top=2",
            "/api/data/v9.2/accounts?$select=name&$filter=name ne null&$top=1",
            "WhoAmI",
        ]
    )
    body = body.replace(
        "$top=1 HTTP/1.1\r\nAccept: application/json\r\n",
        '$top=1 HTTP/1.1\r\nAccept: application/json\r\nPrefer: odata.include-annotations="*"\r\n',
    )
    response = post_batch(app, body, "multipart/mixed;boundary=batch_AAA123")
    parts = parse_response(response.headers["content-type"], response.text)
    assert response.status_code == 200 and [p["status"] for p in parts] == [200, 200, 200]
    assert len(parts[0]["body"]["value"]) == 2 and len(parts[1]["body"]["value"]) == 1
    assert "Preference-Applied" in parts[1]["headers"]
    assert parts[2]["body"]["UserId"]


def test_a_paged_collection_in_a_batch_carries_its_next_link():
    app = app_with()
    body = get_parts(["accounts?$select=name"]).replace(
        "Accept: application/json\r\n", "Accept: application/json\r\nPrefer: odata.maxpagesize=10\r\n"
    )
    response = post_batch(app, body, "multipart/mixed; boundary=batch_AAA123")
    (part,) = parse_response(response.headers["content-type"], response.text)
    assert len(part["body"]["value"]) == 10 and "$skiptoken=" in part["body"]["@odata.nextLink"]


def test_a_batch_holds_at_most_1000_operations():
    app = app_with()
    full = post_batch(app, get_parts(["WhoAmI"] * 1000), "multipart/mixed; boundary=batch_AAA123")
    assert full.status_code == 200 and full.text.count("HTTP/1.1 200 OK") == 1000
    over = post_batch(app, get_parts(["WhoAmI"] * 1001), "multipart/mixed; boundary=batch_AAA123")
    assert over.status_code == 400
    assert over.json()["error"]["message"] == "The batch holds 1001 requests; a batch can contain up to 1000."


def test_a_batch_is_one_request_for_service_protection_but_costs_every_operation():
    app = app_with(protection=Limits(), web_servers=1, cost_model=CostModel(fixed_ms=10, per_row_us=0, per_column_us=0))
    response = post_batch(app, get_parts(["WhoAmI"] * 3), "multipart/mixed; boundary=batch_AAA123")
    assert response.status_code == 200
    (budget,) = app.emulator.servers.public({})["budgets"]
    assert budget["requests"] == 1
    assert budget["execution_seconds"] == 0.04, "the batch's own operation plus its three parts"


def test_a_batch_without_a_multipart_body_is_a_documented_400():
    response = post_batch(app_with(), "{}", "application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "A $batch request needs 'Content-Type: multipart/mixed; boundary=batch_<id>'."
    )


def test_a_batch_is_posted_never_read():
    async def run() -> httpx.Response:
        app = app_with()
        token, _ = app.emulator.identity.issue("app")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=app.emulator.config.api_url,
            headers={"Authorization": f"Bearer {token}"},
        ) as api:
            return await api.get("$batch")

    response = asyncio.run(run())
    assert response.status_code == 405
    assert response.json()["error"]["message"] == "The HTTP method 'GET' is not allowed on $batch."
