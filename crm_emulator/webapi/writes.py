"""Record writes: create (POST), update or upsert (PATCH, If-Match, If-None-Match), delete; images versioned."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from crm_emulator.config import EmulatorConfig
from crm_emulator.data import OrgData
from crm_emulator.errors import DataverseError, bad_request
from crm_emulator.files import version_images
from crm_emulator.records import parse_payload
from crm_emulator.responses import odata_headers
from crm_emulator.schema import Table
from crm_emulator.webapi.query import Query
from crm_emulator.webapi.record import Records, not_found


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from exc


class Writes:
    def __init__(self, config: EmulatorConfig, data: OrgData, records: Records) -> None:
        self.config = config
        self.data = data
        self.records = records

    @property
    def api(self) -> str:
        return self.config.api_url

    def _defaults(self, table: Table, user_index: int, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = dict.fromkeys(self.data.rows[table.logical_name].order)
        user = self.data.org.ref("systemuser", user_index) if "systemuser" in self.data.org.counts else None
        for prop, value in (
            ("createdon", now),
            ("modifiedon", now),
            ("_createdby_value", user),
            ("_modifiedby_value", user),
            ("_ownerid_value", user),
            ("_owninguser_value", user),
            ("_owningbusinessunit_value", self.data.org.ref("businessunit", 0)),
            ("statecode", 0),
        ):
            if prop in table.by_prop:
                values[prop] = value
        status = table.by_prop.get("statuscode")
        state = table.by_prop.get("statecode")
        if status is not None and state is not None:
            values["statuscode"] = next((o.default_status for o in state.options if o.value == 0), 1)
        return values

    def _finish(self, table: Table, values: dict[str, Any]) -> None:
        """Keep derived columns coherent: currency defaults, money ``_base`` twins, owning user/team."""
        money = [c for c in table.columns if c.type_name == "MoneyType" and c.money_base_of is None]
        if money and "_transactioncurrencyid_value" in table.by_prop:
            if values.get("_transactioncurrencyid_value") is None and any(
                values.get(c.prop) is not None for c in money
            ):
                values["_transactioncurrencyid_value"] = self.data.org.ref("transactioncurrency", 0)
            currency = values.get("_transactioncurrencyid_value")
            if currency is not None:
                item = self.data.get("transactioncurrency", currency)
                rate = self.data.view("transactioncurrency", item).get("exchangerate") if item is not None else 1
                values["exchangerate"] = Decimal(str(rate or 1)).quantize(Decimal("0.0000000001"))
                for c in money:
                    base = f"{c.prop}_base"
                    if base in table.by_prop:
                        amount = values.get(c.prop)
                        values[base] = (
                            None if amount is None else (amount / values["exchangerate"]).quantize(Decimal("0.0001"))
                        )
        owner = values.get("_ownerid_value")
        if owner is not None and "_owninguser_value" in table.by_prop:
            is_team = self.data.table_of_id(owner, ("systemuser", "team")) == "team"
            values["_owninguser_value"] = None if is_team else owner
            values["_owningteam_value"] = owner if is_team else None

    async def create(self, request: Request, table: Table, user_index: int) -> Response:
        q = Query(request)
        q.check_select(table)
        payload = parse_payload(self.data, table, await read_json(request))
        name = table.logical_name
        row_id = payload.pop(table.primary_id, None) or self.data.new_id(name)
        if self.data.get(name, row_id) is not None:
            raise DataverseError(412, "0x80040237", "A record with matching key values already exists.")
        now = self.data.now()
        values = self._defaults(table, user_index, now)
        values.update(payload)
        values[table.primary_id] = row_id
        version_images(table, payload, values, now)
        return self._written(table, row_id, values, q, 201)

    async def update(self, request: Request, table: Table, row_id: str, user_index: int) -> Response:
        q = Query(request)
        q.check_select(table)
        payload = parse_payload(self.data, table, await read_json(request))
        name = table.logical_name
        item = self.data.get(name, row_id)
        if_match = request.headers.get("if-match")
        if item is None:
            if if_match is not None:
                raise not_found(table, row_id)
            return await self._upsert_create(request, table, row_id, payload, user_index, q)
        if request.headers.get("if-none-match") == "*":
            raise DataverseError(412, "0x80040237", "A record with matching key values already exists.")
        current = dict(self.data.values(name, item))
        if if_match not in (None, "*") and if_match != f'W/"{current.get("versionnumber")}"':
            raise DataverseError(
                412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."
            )
        payload.pop(table.primary_id, None)
        current.update(payload)
        if "modifiedon" in table.by_prop:
            current["modifiedon"] = self.data.now()
        if "_modifiedby_value" in table.by_prop:
            current["_modifiedby_value"] = self.data.org.ref("systemuser", user_index)
        version_images(table, payload, current, self.data.now())
        return self._written(table, row_id, current, q, 200)

    def _written(self, table: Table, row_id: str, values: dict[str, Any], q: Query, status: int) -> Response:
        """Store a created or updated record and answer as the Web API does (204, or the record on request)."""
        self._finish(table, values)
        self.data.write(table.logical_name, row_id, values)
        location = f"{self.api}{table.entity_set}({row_id})"
        if q.prefs.representation:
            return self.records.response(
                table, values, q, status, {"Preference-Applied": "return=representation", "OData-EntityId": location}
            )
        return Response(status_code=204, headers=odata_headers({"OData-EntityId": location}))

    async def _upsert_create(
        self, request: Request, table: Table, row_id: str, payload: dict[str, Any], user_index: int, q: Query
    ) -> Response:
        values = self._defaults(table, user_index, self.data.now())
        values.update(payload)
        values[table.primary_id] = row_id
        version_images(table, payload, values, self.data.now())
        self._finish(table, values)
        self.data.write(table.logical_name, row_id, values)
        location = f"{self.api}{table.entity_set}({row_id})"
        if q.prefs.representation:
            return self.records.response(
                table, values, q, 201, {"Preference-Applied": "return=representation", "OData-EntityId": location}
            )
        return Response(status_code=204, headers=odata_headers({"OData-EntityId": location}))

    def delete(self, table: Table, row_id: str) -> Response:
        if self.data.get(table.logical_name, row_id) is None:
            raise not_found(table, row_id)
        self.data.write(table.logical_name, row_id, None)
        return Response(status_code=204, headers=odata_headers())
