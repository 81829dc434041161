"""The Web API's documents about itself: the service document, ``$metadata``, ``WhoAmI`` and
``EntityDefinitions`` (with ``Attributes`` and their casts), served from the catalog."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crm_emulator import metadata as md
from crm_emulator.config import EmulatorConfig
from crm_emulator.data import OrgData
from crm_emulator.errors import (
    RECORD_NOT_FOUND,
    UNSUPPORTED_QUERY,
    DataverseError,
    bad_request,
    property_not_found,
    segment_not_found,
    unsupported,
)
from crm_emulator.ids import normalize_guid
from crm_emulator.odata_eval import compile_metadata_filter
from crm_emulator.odata_filter import parse_filter
from crm_emulator.odata_options import KEY, parse_expand, parse_select
from crm_emulator.responses import json_response, odata_headers
from crm_emulator.schema import METADATA_TYPE, Column, Table, metadata_id
from crm_emulator.semantics import OrgLifecycle, apply_global_option_sets, global_option_set_columns, localize


class MetadataApi:
    def __init__(self, config: EmulatorConfig, data: OrgData) -> None:
        self.config = config
        self.data = data
        self.catalog = data.catalog
        self.lifecycle = OrgLifecycle(config.seed)
        self._metadata_xml: dict[bool, bytes] = {}
        self._entity_defs: dict[str, dict[str, Any]] = {}
        self.semantics = config.crm_semantics
        #: (table, column) -> ModifiedOn of attributes changed through the admin API
        self.modified: dict[tuple[str, str], str] = {}
        self.languages = config.languages if config.crm_semantics else (1033,)
        if self.semantics:
            apply_global_option_sets(self.catalog.by_logical)

    @property
    def organization_id(self) -> str:
        return self.lifecycle.organization_id

    def _localized(self, value: Any) -> Any:
        return localize(value, self.languages) if self.semantics else value

    def forget(self) -> None:
        """Drop cached documents after a metadata change."""
        self._metadata_xml.clear()
        self._entity_defs.clear()

    @property
    def api(self) -> str:
        return self.config.api_url

    # --- documents ---------------------------------------------------------------------------------------
    def service_document(self) -> Response:
        sets = sorted(t.entity_set for t in self.catalog.tables)
        return json_response(
            {
                "@odata.context": f"{self.api}$metadata",
                "value": [{"name": s, "kind": "EntitySet", "url": s} for s in sets],
            }
        )

    def metadata_document(self, request: Request) -> Response:
        annotations = request.query_params.get("annotations", "false").lower() == "true" or (
            "odata.include-annotations" in ",".join(request.headers.getlist("prefer"))
        )
        doc = self._metadata_xml.get(annotations)
        if doc is None:
            doc = self._metadata_xml[annotations] = md.csdl(self.catalog.tables, annotations)
        return Response(doc, media_type="application/xml", headers=odata_headers())

    def who_am_i(self, user_index: int) -> Response:
        return json_response(
            {
                "@odata.context": f"{self.api}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                "BusinessUnitId": self.data.org.ref("businessunit", 0),
                "UserId": self.data.org.ref("systemuser", user_index),
                "OrganizationId": self.organization_id,
            }
        )

    # --- metadata entities -------------------------------------------------------------------------------
    def entity_def(self, t: Table) -> dict[str, Any]:
        found = self._entity_defs.get(t.logical_name)
        if found is None:
            found = self._entity_defs[t.logical_name] = self._localized(md.entity_definition(t))
        return found

    def entity_definitions(self, request: Request, key: str | None, rest: list[str]) -> Response:
        params = dict(request.query_params)
        for bad in ("$top", "$skip", "$orderby"):
            if bad in params:
                raise DataverseError(400, UNSUPPORTED_QUERY, f"The query parameter {bad} is not supported")
        for k in params:
            if k.startswith("$") and k not in ("$select", "$filter", "$expand"):
                raise DataverseError(400, UNSUPPORTED_QUERY, f"The query parameter {k} is not supported")
        aliases = {k: v for k, v in params.items() if k.startswith("@")}
        select = parse_select(params.get("$select"))
        predicate = compile_metadata_filter(parse_filter(params["$filter"], aliases)) if "$filter" in params else None
        expand = parse_expand(params.get("$expand"))
        if key is None:
            if rest:
                raise segment_not_found(rest[0])
            items = [self.entity_def(t) for t in self.catalog.tables]
            if predicate is not None:
                items = [i for i in items if predicate(i) is True]
            tables = [self.catalog.by_logical[i["LogicalName"]] for i in items]
            value = [self._entity_item(t, select, expand) for t in tables]
            context = f"{self.api}$metadata#EntityDefinitions" + (f"({','.join(select)})" if select else "")
            return json_response({"@odata.context": context, "value": value})
        table = self._table_by_key(key)
        if not rest:
            if predicate is not None:
                raise bad_request("$filter is not valid when addressing a single table definition.")
            body = {
                "@odata.context": f"{self.api}$metadata#EntityDefinitions"
                + (f"({','.join(select)})" if select else "")
                + "/$entity"
            }
            body.update(self._entity_item(table, select, expand))
            return json_response(body)
        return self.attributes(table, rest, select, predicate, expand)

    def _table_by_key(self, key: str) -> Table:
        m = re.fullmatch(r"LogicalName='([^']*)'", key)
        if m:
            table = self.catalog.by_logical.get(m.group(1))
            if table is None:
                raise DataverseError(404, RECORD_NOT_FOUND, f"Could not find an entity with name '{m.group(1)}'.")
            return table
        guid = normalize_guid(key)
        if guid is None:
            raise bad_request(f"The key value '{key}' is not valid for EntityDefinitions.")
        table = self.catalog.by_metadata_id.get(guid)
        if table is None:
            raise DataverseError(404, RECORD_NOT_FOUND, f"Could not find an entity with id '{guid}'.")
        return table

    def _entity_item(
        self, t: Table, select: list[str] | None, expand: list[tuple[str, dict[str, str]]]
    ) -> dict[str, Any]:
        full = self.entity_def(t)
        if select is None:
            item = dict(full)
        else:
            item = {}
            for prop in select:
                if prop not in full:
                    raise property_not_found(prop, "EntityMetadata")
                item[prop] = full[prop]
            item["MetadataId"] = full["MetadataId"]
        for nav, options in expand:
            if nav != "Attributes":
                raise unsupported(f"Expanding '{nav}' on EntityDefinitions")
            bad = set(options) - {"$select", "$filter"}
            if bad:
                raise DataverseError(400, UNSUPPORTED_QUERY, f"The query parameter {sorted(bad)[0]} is not supported")
            sub_select = parse_select(options.get("$select"))
            pred = compile_metadata_filter(parse_filter(options["$filter"])) if "$filter" in options else None
            item["Attributes"] = self._attribute_items(t, None, sub_select, pred, [])
        return item

    def attributes(
        self,
        table: Table,
        rest: list[str],
        select: list[str] | None,
        predicate: Any,
        expand: list[tuple[str, dict[str, str]]],
    ) -> Response:
        head = rest[0]
        m = KEY.match(head)
        if (m.group(1) if m else head) != "Attributes":
            raise unsupported(f"The metadata navigation '{head}'")
        cast = None
        if len(rest) > 1:
            cast_text = rest[1]
            if not cast_text.startswith(md.NS) or cast_text[len(md.NS) :] not in md.CASTS:
                raise bad_request(f"The type cast '{cast_text}' is not a known AttributeMetadata type.")
            cast = cast_text[len(md.NS) :]
            if len(rest) > 2:
                raise segment_not_found(rest[2])
        ctx = f"{self.api}$metadata#EntityDefinitions('{table.metadata_id}')/Attributes"
        if cast:
            ctx += f"/{md.NS}{cast}"
        names = list(select or []) + [n for n, _ in expand]
        if names:
            ctx += f"({','.join(names)})"
        if m is not None:
            key = m.group(2)
            km = re.fullmatch(r"LogicalName='([^']*)'", key)
            col = (
                table.by_name.get(km.group(1))
                if km
                else next(
                    (c for c in table.columns if metadata_id("attribute", c.table, c.name) == normalize_guid(key)),
                    None,
                )
            )
            if col is None:
                raise DataverseError(
                    404, RECORD_NOT_FOUND, f"Could not find an attribute with key {key} on '{table.logical_name}'."
                )
            items = self._attribute_items(table, cast, select, None, expand, only=col)
            if not items:
                raise bad_request(f"The attribute '{col.name}' is not of type {cast}.")
            return json_response({"@odata.context": ctx + "/$entity", **items[0]})
        return json_response(
            {"@odata.context": ctx, "value": self._attribute_items(table, cast, select, predicate, expand)}
        )

    def _attribute_items(
        self,
        table: Table,
        cast: str | None,
        select: list[str] | None,
        predicate: Any,
        expand: list[tuple[str, dict[str, str]]],
        only: Column | None = None,
    ) -> list[dict[str, Any]]:
        cols = [only] if only is not None else md.attributes_of(table, cast)
        if only is not None and cast is not None and METADATA_TYPE[only.type_name] != cast:
            return []
        out = []
        for col in cols:
            full = self._localized(md.attribute_definition(col, cast))
            changed = self.modified.get((col.table, col.name))
            if changed is not None:
                full["ModifiedOn"] = changed
            if predicate is not None and predicate(full) is not True:
                continue
            if select is None:
                item = dict(full)
            else:
                item = {"@odata.type": full["@odata.type"]}
                for prop in select:
                    if prop not in full:
                        type_name = cast or "AttributeMetadata"
                        raise property_not_found(prop, type_name)
                    item[prop] = full[prop]
                item["MetadataId"] = full["MetadataId"]
            for nav, options in expand:
                if nav not in md.EXPANDABLE or cast is None:
                    raise bad_request(
                        f"Could not find a property named '{nav}' on type 'Microsoft.Dynamics.CRM."
                        f"{cast or 'AttributeMetadata'}'."
                    )
                if col.type_name not in (
                    "PicklistType",
                    "StateType",
                    "StatusType",
                    "MultiSelectPicklistType",
                    "BooleanType",
                ):
                    raise bad_request(
                        f"Could not find a property named '{nav}' on type 'Microsoft.Dynamics.CRM.{cast}'."
                    )
                value: dict[str, Any] | None = self._localized(md.option_set(col))
                if nav == "GlobalOptionSet" and not col.global_option_set:
                    value = None
                sub = parse_select(options.get("$select"))
                if value is not None and sub:
                    missing = [p for p in sub if p not in value]
                    if missing:
                        raise property_not_found(missing[0], "OptionSetMetadataBase")
                    value = {p: value[p] for p in sub} | {"MetadataId": value["MetadataId"]}
                item[nav] = value
            out.append(item)
        return out

    # --- option sets, languages and the organization row (crm_semantics) ----------------------------------
    def global_option_set_definitions(self, request: Request, key: str | None, rest: list[str]) -> Response:
        """``GlobalOptionSetDefinitions``, all of them or one by ``(Name='x')`` / ``(<MetadataId>)``."""
        if rest:
            raise segment_not_found(rest[0])
        params = dict(request.query_params)
        for k in params:
            if k.startswith("$") and k != "$select":
                raise DataverseError(400, UNSUPPORTED_QUERY, f"The query parameter {k} is not supported")
        select = parse_select(params.get("$select"))
        sets = {name: self._global_set(col) for name, col in global_option_set_columns(self.catalog.by_logical).items()}
        context = f"{self.api}$metadata#GlobalOptionSetDefinitions" + (f"({','.join(select)})" if select else "")
        if key is None:
            return json_response({"@odata.context": context, "value": [self._pick(v, select) for v in sets.values()]})
        m = re.fullmatch(r"Name='([^']*)'", key)
        if m:
            found = sets.get(m.group(1))
        else:
            guid = normalize_guid(key)
            if guid is None:
                raise bad_request(f"The key value '{key}' is not valid for GlobalOptionSetDefinitions.")
            found = next((v for v in sets.values() if v["MetadataId"] == guid), None)
        if found is None:
            raise DataverseError(404, RECORD_NOT_FOUND, f"Could not find optionset with key {key}.")
        return json_response({"@odata.context": context + "/$entity", **self._pick(found, select)})

    def _global_set(self, col: Column) -> dict[str, Any]:
        kind = "BooleanOptionSetMetadata" if col.type_name == "BooleanType" else "OptionSetMetadata"
        return {"@odata.type": f"#{md.NS}{kind}", **self._localized(md.option_set(col))}

    @staticmethod
    def _pick(value: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        if select is None:
            return value
        missing = [p for p in select if p not in value]
        if missing:
            raise property_not_found(missing[0], "OptionSetMetadataBase")
        return {"@odata.type": value["@odata.type"], **{p: value[p] for p in select}, "MetadataId": value["MetadataId"]}

    def provisioned_languages(self) -> Response:
        return json_response(
            {
                "@odata.context": f"{self.api}$metadata#Microsoft.Dynamics.CRM.RetrieveProvisionedLanguagesResponse",
                "RetrieveProvisionedLanguages": list(self.languages),
            }
        )

    def organization_row(self) -> dict[str, Any]:
        life = self.lifecycle
        return {
            "@odata.etag": f'W/"{life.generation + 1}"',
            "organizationid": life.organization_id,
            "name": f"org{self.config.seed}",
            "languagecode": self.languages[0],
            "version": life.version,
            "expirechangetrackingindays": self.config.change_tracking_expiry_days,
        }

    def organizations(self, request: Request) -> Response:
        """The org's one ``organizations`` row, with ``$select`` (where clients read ``languagecode``)."""
        params = dict(request.query_params)
        for k in params:
            if k.startswith("$") and k != "$select":
                raise DataverseError(400, UNSUPPORTED_QUERY, f"The query parameter {k} is not supported")
        select = parse_select(params.get("$select"))
        row = self.organization_row()
        if select is not None:
            missing = [p for p in select if p not in row]
            if missing:
                raise DataverseError(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{missing[0]}' on type 'Microsoft.Dynamics.CRM.organization'.",
                )
            row = {
                "@odata.etag": row["@odata.etag"],
                **{p: row[p] for p in select},
                "organizationid": row["organizationid"],
            }
        context = f"{self.api}$metadata#organizations" + (f"({','.join(select)})" if select else "")
        return json_response({"@odata.context": context, "value": [row]})
