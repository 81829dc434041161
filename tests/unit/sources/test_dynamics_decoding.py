"""Pages are decoded from their bytes by Arrow when it reads them exactly as the exact path does, and by the exact
path otherwise: what a page becomes never depends on which path took it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest

from flowservice.domain.errors import SourceError
from flowservice.ports import Column
from flowservice.sources.dynamics.convert import PageDecoder, next_link_hint

UUID = {"type": "string", "format": "uuid"}
COLUMNS = [
    Column("accountid", pa.string(), "UniqueidentifierType", UUID, nullable=False),
    Column("name", pa.string(), "StringType", {"type": "string"}),
    Column("numberofemployees", pa.int32(), "IntegerType", {"type": "integer"}),
    Column("versionnumber", pa.int64(), "BigIntType", {"type": "integer"}),
    Column("address1_latitude", pa.float64(), "DoubleType", {"type": "number"}),
    Column("donotemail", pa.bool_(), "BooleanType", {"type": "boolean"}),
    Column("revenue", pa.decimal128(38, 4), "MoneyType", {"type": "number"}),
    Column("exchangerate", pa.decimal128(38, 10), "DecimalType", {"type": "number"}),
    Column("discount", pa.decimal128(38, 2), "DecimalType", {"type": "number"}),
    Column("modifiedon", pa.timestamp("us", tz="UTC"), "DateTimeType", {"type": "string", "format": "date-time"}),
    Column("foundedon", pa.date32(), "DateTimeType", {"type": "string", "format": "date"}),
    Column("_ownerid_value", pa.string(), "OwnerType", UUID),
    Column("_ownerid_value_lookuplogicalname", pa.string(), "EntityNameType", {"type": "string"}),
]
OWNER_TYPE = "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
NEXT = "https://contoso.crm.dynamics.com/api/data/v9.2/accounts?$select=name&$skiptoken=%3Ccookie%20page=%222%22/%3E"


def row(i: int, **overrides: object) -> bytes:
    """One item as Dataverse writes it: money and decimals as bare numbers with their own digits."""
    fields = {
        "@odata.etag": f'"W/\\"{1000 + i}\\""',
        "accountid": f'"78914942-34CB-ED11-B596-0022481D68{i:02d}"',
        "name": f'"Account {i} \\u00e9\\"q\\""',
        "numberofemployees": str(2147483647 - i),
        "versionnumber": str(9223372036854775807 - i),
        "address1_latitude": "47.6062",
        "donotemail": "true",
        "revenue": "922337203685477.1234",
        "exchangerate": "0.1234567891",
        "discount": "-1E+2",
        "modifiedon": '"2023-04-07T21:59:01.123Z"',
        "foundedon": '"1976-08-28"',
        "_ownerid_value": '"2F1EDAFA-4AD0-E60E-8E04-3CD700000000"',
        OWNER_TYPE: '"systemuser"',
    }
    fields.update({k: str(v) for k, v in overrides.items()})
    return b"{" + b",".join(f'"{k}":{v}'.encode() for k, v in fields.items() if v != "MISSING") + b"}"


def page(*items: bytes, next_link: str | None = NEXT) -> bytes:
    tail = b',"@odata.nextLink":' + orjson.dumps(next_link) if next_link else b""
    return b'{"@odata.context":"https://x/$metadata#accounts","value":[' + b",".join(items) + b"]" + tail + b"}"


def decode(body: bytes, *, deletes: bool = False) -> tuple[PageDecoder, pa.RecordBatch]:
    decoder = PageDecoder(COLUMNS, "account")
    decoded = decoder(pa.py_buffer(body), deletes=deletes)
    exact = PageDecoder(COLUMNS, "account").exact(body, deletes=deletes)
    assert decoded.batch.equals(exact.batch) and decoded.batch.schema == exact.batch.schema
    assert (decoded.deleted_keys, decoded.next_link, decoded.delta_link) == (
        exact.deleted_keys,
        exact.next_link,
        exact.delta_link,
    )
    return decoder, decoded.batch


def test_a_typical_page_is_decoded_by_arrow_exactly_as_by_the_exact_path():
    body = page(
        row(1),
        row(
            2,
            name="null",
            revenue="null",
            modifiedon='"2023-04-07T21:59:01Z"',
            foundedon='"2024-03-16T00:00:00Z"',
            _ownerid_value="MISSING",
        ),
        row(3, donotemail="false"),
    )
    decoder, batch = decode(body)
    assert decoder.fast_pages == 1 and decoder.exact_pages == 0
    first = batch.to_pylist()[0]
    assert first["accountid"] == "78914942-34cb-ed11-b596-0022481d6801"
    assert first["name"] == 'Account 1 é"q"'
    assert first["numberofemployees"] == 2147483646 and first["versionnumber"] == 9223372036854775806
    assert first["revenue"] == Decimal("922337203685477.1234")  # beyond a double's 15-16 digits
    assert first["exchangerate"] == Decimal("0.1234567891") and first["discount"] == Decimal("-100.00")
    assert first["modifiedon"] == dt.datetime(2023, 4, 7, 21, 59, 1, 123000, tzinfo=dt.UTC)
    assert first["foundedon"] == dt.date(1976, 8, 28)
    assert first["_ownerid_value_lookuplogicalname"] == "systemuser"
    assert batch.column("foundedon").to_pylist()[1] == dt.date(2024, 3, 16)
    assert batch.column("_ownerid_value").to_pylist()[1] is None and batch.column("revenue").to_pylist()[1] is None
    assert batch.schema.field("modifiedon").type == pa.timestamp("us", tz="UTC")
    assert batch.schema.field("foundedon").type == pa.date32()


@pytest.mark.parametrize(
    "overrides",
    [
        {"discount": "1.015"},  # more places than the column's scale: rounded half-even, never through a float
        {"numberofemployees": '"12"'},  # a number sent as text
        {"donotemail": '"true"'},  # a boolean sent as text
        {"name": '{"Value":true}'},  # a complex value in a text column
        {"address1_latitude": "NaN"},  # not JSON, which Arrow would take
        {"modifiedon": '"2023-04-07T21:59:01.1234567Z"'},  # seven fractional digits
        {"@odata.context": '"https://x/$metadata#accounts/$entity"'},  # an annotated item
    ],
)
def test_a_page_arrow_cannot_take_as_is_is_decoded_by_the_exact_path(overrides):
    body = page(row(1), row(2, **overrides))
    if "NaN" in overrides.values():
        with pytest.raises(orjson.JSONDecodeError):  # the exact path refuses it, so the page is fetched again
            PageDecoder(COLUMNS, "account")(body)
        return
    decoder, batch = decode(body)
    assert decoder.exact_pages == 1 and decoder.fast_pages == 0
    if "discount" in overrides:
        assert batch.column("discount").to_pylist()[1] == Decimal("1.02")


def test_deleted_entities_in_a_delta_page_become_deleted_keys():
    gone = b'{"@odata.context":"https://x/$metadata#accounts/$deletedEntity","id":"ABC-1","reason":"deleted"}'
    decoder, batch = decode(page(row(1), gone, next_link=None), deletes=True)
    assert batch.num_rows == 1 and decoder.exact_pages == 1
    assert PageDecoder(COLUMNS, "account")(page(row(1), gone), deletes=True).deleted_keys == ["abc-1"]


def test_a_value_contradicting_metadata_still_fails_naming_the_column():
    with pytest.raises(SourceError, match=r"account\.numberofemployees"):
        PageDecoder(COLUMNS, "account")(page(row(1, numberofemployees='"many"')))


def test_a_truncated_page_is_a_json_error_the_http_layer_retries():
    with pytest.raises(orjson.JSONDecodeError):
        PageDecoder(COLUMNS, "account")(page(row(1))[:-40])


def test_text_that_is_not_utf8_is_refused_as_orjson_would():
    body = page(row(1, name='"cafe"')).replace(b'"cafe"', b'"caf\xe9"')  # Latin-1, not UTF-8
    with pytest.raises(orjson.JSONDecodeError):
        PageDecoder(COLUMNS, "account")(body)


def test_links_come_from_the_page_and_an_empty_page_keeps_the_schema():
    delta = b'{"value":[],"@odata.deltaLink":"https://x/accounts?$deltatoken=9"}'
    decoder, batch = decode(delta)
    assert batch.num_rows == 0 and batch.schema.names == [c.name for c in COLUMNS]
    assert decoder(delta).delta_link == "https://x/accounts?$deltatoken=9" and decoder(delta).next_link is None


def test_the_next_link_is_read_from_the_last_bytes_of_a_page():
    assert next_link_hint(page(row(1))) == NEXT
    assert next_link_hint(pa.py_buffer(page(row(1)))) == NEXT
    assert next_link_hint(page(row(1), next_link=None)) is None
    quoted = page(row(1, name='"a \\"@odata.nextLink\\":\\"https://evil/\\" b"'), next_link=None)
    assert next_link_hint(quoted) is None  # a key-like text inside a string is escaped, so never taken
    assert next_link_hint(page(row(1))[:-30]) is None  # cut short: no guess


@pytest.mark.parametrize("links_first", [False, True])
def test_a_page_decodes_to_what_the_exact_path_makes_of_it_wherever_its_links_are(links_first):
    body = page(*(row(i) for i in range(40)), row(40, name="null"), *(row(i) for i in range(41, 60)))
    if links_first:  # the links ahead of the items
        body = body.replace(b',"@odata.nextLink":' + orjson.dumps(NEXT), b"").replace(
            b'{"@odata.context"', b'{"@odata.deltaLink":' + orjson.dumps(NEXT) + b',"@odata.context"'
        )
    decoder = PageDecoder(COLUMNS, "account")
    decoded = decoder(pa.py_buffer(body))
    exact = decoder.exact(body)
    assert decoder.fast_pages == 1
    assert decoded.batch.num_rows == 60 and decoded.batch.equals(exact.batch)
    assert (decoded.next_link, decoded.delta_link) == (exact.next_link, exact.delta_link)
    assert (decoded.delta_link if links_first else decoded.next_link) == NEXT


def test_when_some_rows_of_a_page_need_the_exact_path_the_whole_page_takes_it():
    body = page(*(row(i) for i in range(20)), *(row(i, numberofemployees='"12"') for i in range(20, 40)))
    decoder = PageDecoder(COLUMNS, "account")
    decoded = decoder(pa.py_buffer(body))
    assert decoder.exact_pages == 1 and decoder.fast_pages == 0
    assert decoded.batch.equals(decoder.exact(body).batch)
