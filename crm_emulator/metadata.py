"""Table and column definitions as the metadata API returns them, plus the CSDL ``$metadata`` document.

Shapes follow the reference §1.5 and §3: ``EntityDefinitions`` items with managed properties as
``{"Value", "CanBeChanged", "ManagedPropertyLogicalName"}`` and labels as ``LocalizedLabels`` /
``UserLocalizedLabel``; ``Attributes`` items carry ``@odata.type``, ``AttributeType`` and ``AttributeTypeName``
(``Virtual`` for multi-select, image and file columns), and the derived-type properties (precision, ranges,
``DateTimeBehavior``, ``Targets``…) only when the collection is cast to that type.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from crm_emulator.schema import ATTRIBUTE_TYPE, METADATA_TYPE, Column, Option, Table, label, metadata_id, schema_name

NS = "Microsoft.Dynamics.CRM."


def managed(value: Any, name: str, can_change: bool = True) -> dict[str, Any]:
    return {"Value": value, "CanBeChanged": can_change, "ManagedPropertyLogicalName": name}


def entity_definition(t: Table) -> dict[str, Any]:
    """Every EntityMetadata property the emulator models, in the order Dataverse lists them."""
    return {
        "MetadataId": t.metadata_id,
        "HasChanged": None,
        "ActivityTypeMask": 1 if t.activity else 0,
        "AutoRouteToOwnerQueue": False,
        "CanBeInManyToMany": managed(not t.intersect, "canbeinmanytomany"),
        "CanBePrimaryEntityInRelationship": managed(not t.intersect, "canbeprimaryentityinrelationship"),
        "CanBeRelatedEntityInRelationship": managed(not t.intersect, "canberelatedentityinrelationship"),
        "CanChangeHierarchicalRelationship": managed(False, "canchangehierarchicalrelationship"),
        "CanChangeTrackingBeEnabled": managed(
            t.can_change_tracking, "canchangetrackingbeenabled", t.can_change_tracking
        ),
        "CanCreateAttributes": managed(not t.intersect, "cancreateattributes"),
        "CanCreateCharts": managed(not t.intersect, "cancreatecharts"),
        "CanCreateForms": managed(not t.intersect, "cancreateforms"),
        "CanCreateViews": managed(not t.intersect, "cancreateviews"),
        "CanEnableSyncToExternalSearchIndex": managed(not t.private, "canenablesynctoexternalsearchindex"),
        "CanModifyAdditionalSettings": managed(True, "canmodifyadditionalsettings"),
        "CanTriggerWorkflow": not t.intersect,
        "ChangeTrackingEnabled": t.change_tracking,
        "CollectionSchemaName": t.schema_name + ("es" if t.schema_name.endswith("s") else "s"),
        "DataProviderId": "c1919979-0021-4f11-a587-a8f904bdfdf9" if t.table_type == "Virtual" else None,
        "DataSourceId": None,
        "DaysSinceRecordLastModified": 0,
        "Description": label(t.description, f"{t.logical_name}.description"),
        "DisplayCollectionName": label(t.display_plural, f"{t.logical_name}.plural"),
        "DisplayName": label(t.display, f"{t.logical_name}.display"),
        "EnforceStateTransitions": False,
        "EntityColor": None,
        "EntityHelpUrl": None,
        "EntityHelpUrlEnabled": False,
        "EntitySetName": t.entity_set,
        "ExternalCollectionName": None,
        "ExternalName": None,
        "HasActivities": t.logical_name in ("account", "contact", "lead", "opportunity", "incident"),
        "HasEmailAddresses": t.logical_name in ("account", "contact", "lead", "systemuser"),
        "HasFeedback": False,
        "HasNotes": not t.intersect,
        "IconLargeName": None,
        "IconMediumName": None,
        "IconSmallName": None,
        "IntroducedVersion": "1.0" if t.custom else "5.0.0.0",
        "IsActivity": t.activity,
        "IsActivityParty": t.logical_name in ("account", "contact", "lead", "systemuser"),
        "IsAuditEnabled": managed(not t.intersect and not t.private, "canmodifyauditsettings"),
        "IsAvailableOffline": not t.intersect,
        "IsBPFEntity": False,
        "IsBusinessProcessEnabled": t.logical_name in ("account", "contact", "lead", "opportunity"),
        "IsChildEntity": False,
        "IsConnectionsEnabled": managed(not t.intersect, "canmodifyconnectionsettings"),
        "IsCustomEntity": t.custom,
        "IsCustomizable": managed(not t.private, "iscustomizable", False),
        "IsDocumentManagementEnabled": False,
        "IsDuplicateDetectionEnabled": managed(
            t.logical_name in ("account", "contact", "lead"), "canmodifyduplicatedetectionsettings"
        ),
        "IsElasticTable": t.table_type == "Elastic",
        "IsEnabledForCharts": not t.intersect,
        "IsEnabledForExternalChannels": False,
        "IsEnabledForTrace": False,
        "IsImportable": not t.intersect and not t.private,
        "IsIntersect": t.intersect,
        "IsKnowledgeManagementEnabled": False,
        "IsLogicalEntity": t.private and t.logical_name.endswith("pointer"),
        "IsMailMergeEnabled": managed(t.logical_name in ("account", "contact", "lead"), "canmodifymailmergesettings"),
        "IsManaged": not t.custom,
        "IsMappable": managed(not t.intersect, "ismappable"),
        "IsMSTeamsIntegrationEnabled": False,
        "IsOfflineInMobileClient": managed(False, "canmodifymobileclientoffline"),
        "IsOneNoteIntegrationEnabled": False,
        "IsOptimisticConcurrencyEnabled": True,
        "IsPrivate": t.private,
        "IsQuickCreateEnabled": t.logical_name in ("account", "contact", "lead", "opportunity"),
        "IsReadingPaneEnabled": True,
        "IsReadOnlyInMobileClient": managed(False, "canmodifymobileclientreadonly"),
        "IsRenameable": managed(not t.private, "isrenameable"),
        "IsRetrieveAuditEnabled": False,
        "IsRetrieveMultipleAuditEnabled": False,
        "IsSLAEnabled": False,
        "IsSolutionAware": False,
        "IsStateModelAware": any(c.name == "statecode" for c in t.columns),
        "IsValidForAdvancedFind": t.valid_for_advanced_find,
        "IsValidForQueue": managed(t.logical_name in ("incident", "email", "task"), "canmodifyqueuesettings"),
        "IsVirtual": t.table_type == "Virtual",
        "JoinKeyName": None,
        "LogicalCollectionName": t.entity_set,
        "LogicalName": t.logical_name,
        "ObjectTypeCode": t.object_type_code,
        "OwnershipType": t.ownership if t.ownership in ("UserOwned", "OrganizationOwned", "BusinessOwned") else "None",
        "PrimaryIdAttribute": t.primary_id,
        "PrimaryImageAttribute": "entityimage" if "entityimage" in t.by_name else None,
        "PrimaryNameAttribute": t.primary_name,
        "RecurrenceBaseEntityLogicalName": None,
        "ReportViewName": f"Filtered{t.schema_name}",
        "SchemaName": t.schema_name,
        "SettingOf": None,
        "SyncToExternalSearchIndex": t.logical_name in ("account", "contact"),
        "TableType": t.table_type,
        "UsesBusinessDataLabelTable": False,
    }


def _option_key(col: Column, o: Option) -> str:
    """Labels of a global option set are the set's, the same whichever table's column shows them."""
    if col.global_option_set and col.option_set_name:
        return f"{col.option_set_name}.{o.value}"
    return f"{col.table}.{col.name}.{o.value}"


def _option(col: Column, o: Option) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Value": o.value,
        "Color": None,
        "IsManaged": not col.custom,
        "ExternalValue": "",
        "ParentValues": [],
        "Tag": None,
        "IsHidden": False,
        "MetadataId": None,
        "HasChanged": None,
        "Label": label(o.label, _option_key(col, o)),
        "Description": label(None),
    }
    if col.type_name == "StateType":
        out["DefaultStatus"] = o.default_status
        out["InvariantName"] = o.invariant
    if col.type_name == "StatusType":
        out["State"] = o.state
        out["TransitionData"] = None
    return out


def option_set(col: Column) -> dict[str, Any]:
    """The ``OptionSet`` navigation value (``$expand=OptionSet``) of a choice or Boolean column."""
    base: dict[str, Any] = {
        "MetadataId": metadata_id("optionset", col.option_set_name or f"{col.table}_{col.name}"),
        "HasChanged": None,
        "IsCustomOptionSet": col.custom,
        "IsGlobal": col.global_option_set,
        "IsManaged": not col.custom,
        "Name": col.option_set_name or f"{col.table}_{col.name}",
        "ExternalTypeName": None,
        "OptionSetType": {
            "PicklistType": "Picklist",
            "StateType": "State",
            "StatusType": "Status",
            "MultiSelectPicklistType": "Picklist",
            "BooleanType": "Boolean",
        }[col.type_name],
        "IntroducedVersion": "5.0.0.0",
        "ParentOptionSetName": None,
        "Description": label(None),
        "DisplayName": label(
            col.display,
            f"{col.option_set_name}.os" if col.global_option_set else f"{col.table}.{col.name}.os",
        ),
        "IsCustomizable": managed(True, "iscustomizable"),
    }
    if col.type_name == "BooleanType":
        base["TrueOption"] = _option(col, Option(1, col.true_label))
        base["FalseOption"] = _option(col, Option(0, col.false_label))
    else:
        base["Options"] = [_option(col, o) for o in col.options]
    return base


def attribute_common(col: Column) -> dict[str, Any]:
    """The AttributeMetadata base-type properties, as an uncast ``/Attributes`` query returns them."""
    return {
        "@odata.type": f"#{NS}{METADATA_TYPE[col.type_name]}",
        "MetadataId": metadata_id("attribute", col.table, col.name),
        "HasChanged": None,
        "AttributeOf": col.attribute_of,
        "AttributeType": ATTRIBUTE_TYPE[col.type_name],
        "AttributeTypeName": {"Value": col.type_name},
        "AutoNumberFormat": None,
        "CanBeSecuredForCreate": col.custom,
        "CanBeSecuredForRead": col.custom,
        "CanBeSecuredForUpdate": col.custom,
        "CanModifyAdditionalSettings": managed(True, "canmodifyadditionalsettings"),
        "ColumnNumber": col.number,
        "CreatedOn": "2019-01-01T00:00:00Z",
        "DeprecatedVersion": None,
        "Description": label(col.description or None, f"{col.table}.{col.name}.desc"),
        "DisplayName": label(col.display, f"{col.table}.{col.name}"),
        "EntityLogicalName": col.table,
        "ExternalName": None,
        "InheritsFrom": None,
        "IntroducedVersion": "1.0" if col.custom else "5.0.0.0",
        "IsAuditEnabled": managed(True, "canmodifyauditsettings"),
        "IsCustomAttribute": col.custom,
        "IsCustomizable": managed(True, "iscustomizable"),
        "IsDataSourceSecret": False,
        "IsFilterable": col.webapi,
        "IsGlobalFilterEnabled": managed(False, "canmodifyglobalfiltersettings"),
        "IsLogical": col.logical,
        "IsManaged": not col.custom,
        "IsPrimaryId": col.primary_id,
        "IsPrimaryName": col.primary_name,
        "IsRenameable": managed(True, "isrenameable"),
        "IsRequiredForForm": col.primary_id,
        "IsRetrievable": True,
        "IsSearchable": col.webapi and col.type_name in ("StringType", "MemoType"),
        "IsSecured": False,
        "IsSortableEnabled": managed(False, "canmodifyissortablesettings"),
        "IsValidForAdvancedFind": managed(col.webapi, "canmodifysearchsettings"),
        "IsValidForCreate": col.writable and col.attribute_of is None,
        "IsValidForForm": col.webapi,
        "IsValidForGrid": col.webapi,
        "IsValidForRead": True,
        "IsValidForUpdate": col.writable and col.attribute_of is None and not col.primary_id,
        "IsValidODataAttribute": col.webapi,
        "LinkedAttributeId": None,
        "LogicalName": col.name,
        "ModifiedOn": "2019-01-01T00:00:00Z",
        "RequiredLevel": managed(col.required, "canmodifyrequirementlevelsettings"),
        "SchemaName": schema_name(col.name),
        "Settings": [],
        "SourceType": 0,
    }


def attribute_derived(col: Column) -> dict[str, Any]:
    """Properties of the derived metadata type (only returned by a cast, reference §3.2)."""
    t = col.type_name
    if t in ("StringType", "MemoType"):
        out: dict[str, Any] = {
            "MaxLength": col.max_length,
            "DatabaseLength": (col.max_length or 0) * 2,
            "Format": col.format,
            "FormatName": {"Value": col.format},
            "ImeMode": "Auto",
            "IsLocalizable": False,
            "YomiOf": None,
        }
        if t == "StringType":
            out["IsLocalizable"] = False
        return out
    if t == "IntegerType":
        return {"Format": col.format or "None", "MaxValue": col.max_value, "MinValue": col.min_value}
    if t == "BigIntType":
        return {"MaxValue": col.max_value, "MinValue": col.min_value}
    if t == "DecimalType":
        return {"MaxValue": col.max_value, "MinValue": col.min_value, "Precision": col.precision, "ImeMode": "Auto"}
    if t == "DoubleType":
        return {"MaxValue": col.max_value, "MinValue": col.min_value, "Precision": col.precision, "ImeMode": "Auto"}
    if t == "MoneyType":
        return {
            "MaxValue": col.max_value,
            "MinValue": col.min_value,
            "Precision": col.precision,
            "PrecisionSource": 2,
            "ImeMode": "Auto",
            "IsBaseCurrency": col.money_base_of is not None,
            "CalculationOf": col.money_base_of,
            "FormulaDefinition": None,
        }
    if t == "DateTimeType":
        return {
            "Format": col.format,
            "DateTimeBehavior": {"Value": col.behavior},
            "CanChangeDateTimeBehavior": managed(col.custom, "canchangedatetimebehavior"),
            "ImeMode": "Auto",
            "MinSupportedValue": "1753-01-01T00:00:00Z",
            "MaxSupportedValue": "9999-12-30T23:59:59Z",
        }
    if t in ("LookupType", "CustomerType", "OwnerType"):
        return {"Targets": list(col.targets), "Format": "None"}
    if t in ("PicklistType", "StateType", "StatusType", "MultiSelectPicklistType", "BooleanType"):
        out = {"DefaultFormValue": -1 if t != "BooleanType" else 0}
        if t in ("PicklistType", "MultiSelectPicklistType"):
            out["ParentPicklistLogicalName"] = None
            out["ChildPicklistLogicalNames"] = []
        return out
    if t == "ImageType":
        return {
            "IsPrimaryImage": col.name == "entityimage",
            "MaxHeight": 144,
            "MaxWidth": 144,
            "MaxSizeInKB": 10240,
            "CanStoreFullImage": True,
        }
    if t == "FileType":
        return {"MaxSizeInKB": 32768}
    return {}


EXPANDABLE = {"OptionSet", "GlobalOptionSet"}
CASTS = {v for k, v in METADATA_TYPE.items() if v != "AttributeMetadata"}


def attribute_definition(col: Column, cast: str | None) -> dict[str, Any]:
    out = attribute_common(col)
    if cast is not None:
        out.update(attribute_derived(col))
    return out


def attributes_of(t: Table, cast: str | None) -> list[Column]:
    if cast is None:
        return list(t.columns)
    return [c for c in t.columns if METADATA_TYPE[c.type_name] == cast]


# --- CSDL --------------------------------------------------------------------------------------------------
def csdl(tables: list[Table], annotations: bool) -> bytes:
    """The ``$metadata`` document: entity types with keys, properties, lookup navigation properties and
    referential constraints, the container's entity sets and (with annotations) the change-tracking term."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        '<edmx:Reference Uri="http://vocabularies.odata.org/OData.Community.Keys.V1.xml">'
        '<edmx:Include Namespace="OData.Community.Keys.V1" Alias="Keys" /></edmx:Reference>',
        '<edmx:Reference Uri="http://docs.oasis-open.org/odata/odata/v4.0/os/vocabularies/Org.OData.Core.V1.xml">'
        '<edmx:Include Namespace="Org.OData.Core.V1" Alias="Core" /></edmx:Reference>',
        "<edmx:DataServices>",
        '<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">',
        '<EntityType Name="crmbaseentity" Abstract="true" />',
        '<ComplexType Name="WhoAmIResponse"><Property Name="BusinessUnitId" Type="Edm.Guid" Nullable="false" />'
        '<Property Name="UserId" Type="Edm.Guid" Nullable="false" />'
        '<Property Name="OrganizationId" Type="Edm.Guid" Nullable="false" /></ComplexType>',
        '<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" /></Function>',
    ]
    for t in tables:
        out.append(f'<EntityType Name="{t.logical_name}" BaseType="mscrm.crmbaseentity">')
        out.append(f'<Key><PropertyRef Name="{t.primary_id}" /></Key>')
        for c in t.columns:
            if not c.webapi:
                continue
            extra = ' Unicode="false"' if c.type_name == "EntityNameType" else ""
            scale = ' Scale="Variable"' if c.edm_type == "Edm.Decimal" else ""
            out.append(f'<Property Name="{c.prop}" Type="{c.edm_type}"{extra}{scale}>')
            if not c.writable or c.is_lookup:
                out.append('<Annotation Term="Org.OData.Core.V1.Computed" Bool="true" />')
            if c.description and annotations:
                out.append(f'<Annotation Term="Org.OData.Core.V1.Description" String={quoteattr(c.description)} />')
            out.append("</Property>")
        for c in t.columns:
            if not c.is_lookup or not c.webapi:
                continue
            for target in c.targets:
                nav = c.nav if len(c.targets) == 1 else f"{c.nav}_{target}"
                out.append(
                    f'<NavigationProperty Name="{nav}" Type="mscrm.{target}" Nullable="false" '
                    f'Partner="{t.logical_name}_{c.name}_{target}">'
                    f'<ReferentialConstraint Property="{c.prop}" ReferencedProperty="{target}id" />'
                    "</NavigationProperty>"
                )
        if annotations and t.description:
            out.append(f'<Annotation Term="Org.OData.Core.V1.Description" String={quoteattr(t.description)} />')
        out.append("</EntityType>")
    out.append('<EntityContainer Name="System">')
    for t in tables:
        if annotations:
            out.append(
                f'<EntitySet Name="{t.entity_set}" EntityType="Microsoft.Dynamics.CRM.{t.logical_name}">'
                '<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
                f'<PropertyValue Property="Supported" Bool="{"true" if t.change_tracking else "false"}" />'
                "</Record></Annotation></EntitySet>"
            )
        else:
            out.append(f'<EntitySet Name="{t.entity_set}" EntityType="Microsoft.Dynamics.CRM.{t.logical_name}" />')
    out.append('<FunctionImport Name="WhoAmI" Function="Microsoft.Dynamics.CRM.WhoAmI" />')
    out.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
    return "\n".join(out).encode()
