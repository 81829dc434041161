"""Shared examples for the mapping tests: a contact schema and rows, and request-body builders."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from flowservice.domain.mapping import parse_mapping_set
from flowservice.services.mapping import compile_mapping

UTC = dt.UTC

CONTACT_SCHEMA = pa.schema(
    [
        pa.field("contactid", pa.string(), nullable=False),
        pa.field("fullname", pa.string()),
        pa.field("emailaddress1", pa.string()),
        pa.field("_parentcustomerid_value", pa.string()),
        pa.field("modifiedon", pa.timestamp("us", tz="UTC")),
        pa.field("birthdate", pa.string()),
        pa.field("numberofchildren", pa.int32()),
        pa.field("creditlimit", pa.float64()),
        pa.field("donotemail", pa.bool_()),
    ]
)


def contacts() -> pa.Table:
    return pa.table(
        {
            "contactid": ["c1", "c2", "c3"],
            "fullname": ["  Ada Lovelace ", None, "Grace Hopper"],
            "emailaddress1": ["ADA@Example.com", "x@example.com", None],
            "_parentcustomerid_value": ["a1", None, None],
            "modifiedon": pa.array(
                [
                    dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                    None,
                    dt.datetime(2024, 6, 1, 0, 0, 0, 250000, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "birthdate": ["1815-12-10", "not a date", None],
            "numberofchildren": pa.array([3, None, 0], pa.int32()),
            "creditlimit": [1000.5, None, 0.0],
            "donotemail": [False, True, None],
        },
        schema=CONTACT_SCHEMA,
    )


def new_form(*mappings: dict) -> dict:
    return {
        "outputSchema": {
            "schemaRef": {
                "id": "https://ns.adobe.com/acme/schemas/abc",
                "contentType": "application/vnd.adobe.xed-full+json;version=1",
            }
        },
        "mappings": list(mappings),
    }


def expr(source: str, destination: str = "out") -> dict:
    return {"sourceType": "EXPRESSION", "source": source, "destination": destination}


def evaluate(source: str, table: pa.Table | None = None) -> list:
    """Evaluate one expression over the contact rows and return the output column as Python values."""
    mapping = compile_mapping(parse_mapping_set(new_form(expr(source))), CONTACT_SCHEMA)
    return mapping(table if table is not None else contacts()).column("out").to_pylist()
