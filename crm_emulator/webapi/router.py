"""The Web API's one entry point: a request's path and method to the handler of its group."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from crm_emulator.batch import run_batch
from crm_emulator.config import EmulatorConfig
from crm_emulator.cost import record_operation
from crm_emulator.data import OrgData
from crm_emulator.errors import DataverseError, bad_request, segment_not_found, unsupported
from crm_emulator.files import Files
from crm_emulator.ids import normalize_guid
from crm_emulator.metadata_api import MetadataApi
from crm_emulator.odata_options import KEY
from crm_emulator.schema import Table
from crm_emulator.webapi.reads import Reads
from crm_emulator.webapi.record import Records
from crm_emulator.webapi.stream import PageStream
from crm_emulator.webapi.tracking import Tracking
from crm_emulator.webapi.writes import Writes


class WebApi:
    """Dataverse Web API v9.2 resources: service document, ``$metadata``, ``WhoAmI``, metadata entities, entity
    sets (query, paging, change tracking) and single records (read, create, update, delete).

    Anything the emulator does not model answers a loud 400 with the Dataverse error body rather than a result
    that might be silently wrong.
    """

    def __init__(self, config: EmulatorConfig, data: OrgData) -> None:
        self.config = config
        self.data = data
        self.catalog = data.catalog
        self.metadata = MetadataApi(config, data)
        self.pages = PageStream(data)
        self.files = Files(data)
        self.reads = Reads(config, data, self.pages, Tracking(config, data, self.metadata, self.pages))
        self.records = Records(config, data)
        self.writes = Writes(config, data, self.records)

    @property
    def api(self) -> str:
        return self.config.api_url

    def resolve_table(self, path: str) -> Table | None:
        """The table a request path addresses (for fault matching), if any."""
        first = path.split("/", 1)[0]
        m = KEY.match(first)
        name = m.group(1) if m else first
        return self.catalog.by_set.get(name)

    async def handle(self, request: Request, path: str, user_index: int) -> Response:
        record_operation()
        method = request.method
        if path in ("", "/"):
            return self.metadata.service_document()
        if path == "$metadata":
            return self.metadata.metadata_document(request)
        if path in ("WhoAmI", "WhoAmI()"):
            return self.metadata.who_am_i(user_index)
        if self.metadata.semantics and path in ("RetrieveProvisionedLanguages", "RetrieveProvisionedLanguages()"):
            return self.metadata.provisioned_languages()
        if path == "$batch":
            return await run_batch(
                request,
                lambda sub, sub_path: self.handle(sub, sub_path, user_index),
                self.config.max_batch_url_length,
            )
        segments = path.split("/")
        head = segments[0]
        m = KEY.match(head)
        name = m.group(1) if m else head
        if name == "EntityDefinitions":
            if method != "GET":
                raise unsupported("Changing table definitions")
            return self.metadata.entity_definitions(request, m.group(2) if m else None, segments[1:])
        if name == "GlobalOptionSetDefinitions" and self.metadata.semantics:
            if method != "GET":
                raise unsupported("Changing option set definitions")
            return self.metadata.global_option_set_definitions(request, m.group(2) if m else None, segments[1:])
        if name == "organizations" and self.metadata.semantics and m is None and len(segments) == 1 and method == "GET":
            return self.metadata.organizations(request)
        table = self.catalog.by_set.get(name)
        if table is None:
            raise segment_not_found(name)
        if name == "fileattachments" and m is None and len(segments) == 1 and method == "GET":
            return self.files.collection(request, self.api)
        if m is None:
            if len(segments) == 2 and segments[1] == "$count":
                return self.reads.count(request, table)
            if len(segments) > 1:
                raise segment_not_found(segments[1])
            if method == "GET":
                return self.reads.collection(request, table)
            if method == "POST":
                return await self.writes.create(request, table, user_index)
            raise DataverseError(405, "0x80060888", f"The HTTP method '{method}' is not allowed on an entity set.")
        key = m.group(2)
        row_id = normalize_guid(key) if re.fullmatch(r"\{?[0-9A-Fa-f-]{36}\}?", key) else None
        if row_id is None:
            if "=" in key:
                raise unsupported("Addressing records by alternate key")
            raise bad_request(f"The key value '{key}' is not a valid GUID.")
        if len(segments) == 3 and segments[2] == "$value" and method == "GET":
            return self.files.value(request, table, row_id, segments[1])
        if len(segments) > 1:
            raise unsupported(f"The path segment '{segments[1]}' after a record")
        if method == "GET":
            return self.records.retrieve(request, table, row_id)
        if method == "PATCH":
            return await self.writes.update(request, table, row_id, user_index)
        if method == "DELETE":
            return self.writes.delete(table, row_id)
        raise DataverseError(405, "0x80060888", f"The HTTP method '{method}' is not allowed on a record.")
