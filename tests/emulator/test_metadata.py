"""Metadata discovery: service document, $metadata, WhoAmI, EntityDefinitions and Attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ATTRIBUTE_TYPE_NAMES = {
    "StringType",
    "MemoType",
    "IntegerType",
    "BigIntType",
    "DecimalType",
    "DoubleType",
    "MoneyType",
    "BooleanType",
    "DateTimeType",
    "UniqueidentifierType",
    "LookupType",
    "CustomerType",
    "OwnerType",
    "PicklistType",
    "StateType",
    "StatusType",
    "MultiSelectPicklistType",
    "EntityNameType",
    "ImageType",
    "FileType",
}


@pytest.fixture(scope="module")
def api(emulator):
    with emulator.client() as client:
        yield client


def test_service_document_and_whoami_match_the_reference(api, emulator):
    doc = api.get("").json()
    assert doc["@odata.context"] == f"{emulator.api_url}$metadata"
    assert {"name": "accounts", "kind": "EntitySet", "url": "accounts"} in doc["value"]
    assert {"name": "accountleadscollection", "kind": "EntitySet", "url": "accountleadscollection"} in doc["value"]
    who = api.get("WhoAmI")
    assert list(who.json()) == ["@odata.context", "BusinessUnitId", "UserId", "OrganizationId"]
    assert who.json()["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
    assert int(who.headers["x-ms-dop-hint"]) >= 1


def child(parent: ET.Element, path: str) -> ET.Element:
    """``parent.find(path)`` for an element the document must have (a missing one fails here rather than as None)."""
    found = parent.find(path)
    assert found is not None, path
    return found


def test_csdl_has_entity_types_keys_lookups_and_change_tracking_annotations(api):
    root = ET.fromstring(api.get("$metadata?annotations=true").content)
    schema = root.find(f".//{EDM}Schema")
    assert schema is not None and schema.get("Namespace") == "Microsoft.Dynamics.CRM" and schema.get("Alias") == "mscrm"
    account = child(schema, f"{EDM}EntityType[@Name='account']")
    assert account.get("BaseType") == "mscrm.crmbaseentity"
    assert child(account, f"{EDM}Key/{EDM}PropertyRef").get("Name") == "accountid"
    props = {p.get("Name"): p.get("Type") for p in account.findall(f"{EDM}Property")}
    assert props["_ownerid_value"] == "Edm.Guid" and props["cr6f1_foundedon"] == "Edm.Date"
    assert props["revenue"] == "Edm.Decimal" and "owneridname" not in props
    nav = child(account, f"{EDM}NavigationProperty[@Name='primarycontactid']/{EDM}ReferentialConstraint")
    assert nav.get("Property") == "_primarycontactid_value" and nav.get("ReferencedProperty") == "contactid"
    sets = {s.get("Name"): s for s in schema.iter(f"{EDM}EntitySet")}
    supported = child(sets["accounts"], f".//{EDM}PropertyValue[@Property='Supported']").get("Bool")
    assert supported == "true"
    assert child(sets["cr6f1_projects"], f".//{EDM}PropertyValue[@Property='Supported']").get("Bool") == "false"


def test_entity_definitions_list_500_tables_and_filter_like_the_docs(api):
    everything = api.get("EntityDefinitions?$select=LogicalName,EntitySetName").json()
    assert len(everything["value"]) >= 500
    assert set(everything["value"][0]) == {"LogicalName", "EntitySetName", "MetadataId"}
    tracked = api.get("EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true").json()["value"]
    names = {t["LogicalName"] for t in tracked}
    assert {"account", "contact", "lead", "opportunity"} <= names and "cr6f1_project" not in names
    finder = api.get(
        "EntityDefinitions?$select=LogicalName&$filter=IsValidForAdvancedFind eq true and IsPrivate eq false"
    ).json()["value"]
    assert 0 < len(finder) < len(everything["value"])
    owned = api.get(
        "EntityDefinitions?$select=LogicalName&$filter=OwnershipType eq "
        "Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned' and CanChangeTrackingBeEnabled/Value eq true"
    )
    assert owned.status_code == 200 and "account" in {t["LogicalName"] for t in owned.json()["value"]}
    rejected = api.get("EntityDefinitions?$filter=startswith(LogicalName,'acc')")
    assert rejected.json() == {
        "error": {"code": "0x8006088a", "message": 'The "startswith" function isn\'t supported for Metadata Entities.'}
    }
    assert api.get("EntityDefinitions?$top=5").json()["error"]["code"] == "0x80060888"


def test_entity_definition_by_logical_name_is_a_single_object(api, emulator):
    one = api.get(
        "EntityDefinitions(LogicalName='account')?$select=DisplayName,IsKnowledgeManagementEnabled,EntitySetName"
    ).json()
    assert one["@odata.context"] == (
        f"{emulator.api_url}$metadata#EntityDefinitions(DisplayName,IsKnowledgeManagementEnabled,EntitySetName)/$entity"
    )
    assert one["EntitySetName"] == "accounts" and one["MetadataId"] == "70816501-edb9-4740-a16c-6a5efbc05d84"
    assert one["DisplayName"]["UserLocalizedLabel"]["Label"] == "Account"
    assert one["DisplayName"]["LocalizedLabels"][0]["LanguageCode"] == 1033
    by_id = api.get("EntityDefinitions(70816501-edb9-4740-a16c-6a5efbc05d84)?$select=LogicalName").json()
    assert by_id["LogicalName"] == "account"


def test_account_has_80_attributes_of_every_type_with_virtual_for_multiselect_image_and_file(api):
    attrs = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,AttributeType,"
        "AttributeTypeName,AttributeOf,IsValidForRead,IsPrimaryId"
    ).json()["value"]
    assert len(attrs) >= 80
    kinds = {a["AttributeTypeName"]["Value"] for a in attrs}
    assert ATTRIBUTE_TYPE_NAMES <= kinds
    by_name = {a["LogicalName"]: a for a in attrs}
    assert by_name["cr6f1_servicelines"]["AttributeType"] == "Virtual"
    assert by_name["entityimage"]["AttributeType"] == "Virtual"
    assert by_name["cr6f1_contractfile"]["AttributeType"] == "Virtual"
    assert by_name["accountid"]["IsPrimaryId"] is True
    assert by_name["owneridname"]["AttributeOf"] == "ownerid"
    assert all(a["@odata.type"].startswith("#Microsoft.Dynamics.CRM.") for a in attrs)
    lookups = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName&$filter=AttributeType eq "
        "Microsoft.Dynamics.CRM.AttributeTypeCode'Lookup'"
    ).json()["value"]
    assert "primarycontactid" in {a["LogicalName"] for a in lookups}


def test_attribute_casts_return_type_specific_properties(api):
    base = "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM."
    picklists = api.get(base + "PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet").json()["value"]
    industry = next(p for p in picklists if p["LogicalName"] == "industrycode")
    assert industry["OptionSet"]["Options"][0]["Value"] == 1
    assert industry["OptionSet"]["Options"][0]["Label"]["UserLocalizedLabel"]["Label"] == "Accounting"
    money = api.get(base + "MoneyAttributeMetadata?$select=LogicalName,Precision,MinValue,MaxValue").json()["value"]
    assert {m["LogicalName"] for m in money} >= {"revenue", "revenue_base"} and money[0]["Precision"] is not None
    dates = {
        d["LogicalName"]: d["DateTimeBehavior"]["Value"]
        for d in api.get(base + "DateTimeAttributeMetadata?$select=LogicalName,DateTimeBehavior").json()["value"]
    }
    assert dates["modifiedon"] == "UserLocal" and dates["cr6f1_foundedon"] == "DateOnly"
    assert dates["cr6f1_contractstart"] == "TimeZoneIndependent"
    owner = api.get(base + "LookupAttributeMetadata?$select=LogicalName,Targets").json()["value"]
    assert next(o for o in owner if o["LogicalName"] == "ownerid")["Targets"] == ["systemuser", "team"]
    states = api.get(base + "StatusAttributeMetadata?$expand=OptionSet($select=Options)").json()["value"]
    assert states[0]["OptionSet"]["Options"][0]["State"] == 0
    one = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')").json()
    assert one["LogicalName"] == "name" and one["AttributeTypeName"] == {"Value": "StringType"}
    wrong = api.get("EntityDefinitions(LogicalName='account')/Attributes?$select=Precision")
    assert wrong.status_code == 400 and "Precision" in wrong.json()["error"]["message"]
