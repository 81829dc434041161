"""Money columns with their currency.

A money column lands as Dataverse sends it: ``<name>`` in the row's transaction currency and ``<name>_base``
in the org's base currency (its own ``MoneyType`` attribute, read-only, computed by Dataverse with the row's
``exchangerate``, a ``DecimalType`` column landed as it comes: units of the transaction currency per unit of
the base one). The row's currency is the lookup ``_transactioncurrencyid_value``; a table with money columns
and that lookup also gets ``_transactioncurrencyid_value_isocurrencycode``, the ISO 4217 code from the
``transactioncurrency`` table (``isocurrencycode``). The codes are read once per read (an org has a few
currencies, at most a page of them) and again once when a row names a currency created since; a currency the
org does not know gives a null code, as a row without a currency does.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from flowservice.domain.errors import SourceRefused
from flowservice.ports import Column, TableSchema

from .http import DataverseHttp

CURRENCY = "_transactioncurrencyid_value"
ISO_COLUMN = f"{CURRENCY}_isocurrencycode"
MAX_CURRENCIES = 5000  # one page: Dataverse's own maximum; an org has far fewer


def with_currency_code(schema: TableSchema) -> TableSchema:
    """``schema`` with the ISO code column when the table has money columns and a transaction currency."""
    names = {c.name for c in schema.columns}
    money = any(c.original_type == "MoneyType" for c in schema.columns)
    if not money or CURRENCY not in names or ISO_COLUMN in names:
        return schema
    iso = Column(
        ISO_COLUMN,
        pa.string(),
        "StringType",
        {"type": "string", "pattern": "^[A-Z]{3}$"},
        description="ISO 4217 code of the row's transaction currency (transactioncurrency.isocurrencycode).",
    )
    ordered = sorted((*schema.columns, iso), key=lambda c: (not c.is_primary_key, c.name))
    return TableSchema(schema.table, tuple(ordered))


class CurrencyCodes:
    """Transaction currency id → ISO code for one read, fetched when first needed."""

    def __init__(self, http: DataverseHttp) -> None:
        self.http = http
        self.codes: dict[str, str] | None = None
        self.refreshed = False

    def __call__(self, batch: pa.RecordBatch) -> pa.Array:
        ids = pc.utf8_lower(batch.column(CURRENCY).cast(pa.string()))
        wanted = {i for i in pc.unique(ids).to_pylist() if i}
        codes = self._codes()
        if wanted - codes.keys() and not self.refreshed:  # a currency created since the codes were read
            self.refreshed, self.codes = True, None
            codes = self._codes()
        keys = pa.array(list(codes), pa.string())
        values = pa.array(list(codes.values()), pa.string())
        return pc.take(values, pc.index_in(ids, value_set=keys))

    def _codes(self) -> Mapping[str, str]:
        if self.codes is None:
            url = self.http.url("transactioncurrencies", {"$select": "transactioncurrencyid,isocurrencycode"})
            doc, _ = self.http.get_json(url, prefer=[f"odata.maxpagesize={MAX_CURRENCIES}"])
            if doc.get("@odata.nextLink"):
                raise SourceRefused(f"The org has more than {MAX_CURRENCIES} transaction currencies")
            self.codes = {
                str(row["transactioncurrencyid"]).lower(): str(row["isocurrencycode"])
                for row in doc.get("value") or ()
                if row.get("transactioncurrencyid") and row.get("isocurrencycode")
            }
        return self.codes
