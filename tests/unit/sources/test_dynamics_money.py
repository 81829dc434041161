"""Currency codes of money rows: read once per read, read again once for a currency created since, null for a
row without a currency; the ISO column exists only for tables with money and a transaction currency."""

from __future__ import annotations

from typing import Any, cast

import pyarrow as pa

from flowservice.ports import Column, TableInfo, TableSchema
from flowservice.sources.dynamics.http import DataverseHttp
from flowservice.sources.dynamics.money import CURRENCY, ISO_COLUMN, CurrencyCodes, with_currency_code

USD, EUR = "3c9e926d-4d0a-e152-990a-46fb00000000", "3c9e926d-4d0a-e152-990a-46fb00000001"


class Currencies:
    def __init__(self, *pages: list[dict[str, str]]) -> None:
        self.pages = list(pages)
        self.calls = 0

    def url(self, path: str, params: dict[str, str] | None = None) -> str:
        return path

    def get_json(self, url: str, **_: Any) -> tuple[Any, None]:
        assert url == "transactioncurrencies"
        page = self.pages[min(self.calls, len(self.pages) - 1)]
        self.calls += 1
        return {"value": page}, None


def batch(*ids: str | None) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({CURRENCY: pa.array(list(ids), pa.string())})


def test_codes_are_read_once_and_again_once_for_a_currency_created_since() -> None:
    http = Currencies(
        [{"transactioncurrencyid": USD, "isocurrencycode": "USD"}],
        [
            {"transactioncurrencyid": USD, "isocurrencycode": "USD"},
            {"transactioncurrencyid": EUR, "isocurrencycode": "EUR"},
        ],
    )
    codes = CurrencyCodes(cast(DataverseHttp, http))
    assert codes(batch(USD, None, USD)).to_pylist() == ["USD", None, "USD"]
    assert codes(batch(USD)).to_pylist() == ["USD"] and http.calls == 1
    assert codes(batch(EUR, USD)).to_pylist() == ["EUR", "USD"] and http.calls == 2
    assert codes(batch("ffffffff-0000-0000-0000-000000000000")).to_pylist() == [None] and http.calls == 2


def column(name: str, original: str) -> Column:
    return Column(name, pa.string(), original, {"type": "string"})


def test_the_iso_column_comes_only_with_money_and_a_transaction_currency() -> None:
    info = TableInfo("account", "Account", "accounts", "accountid", True)
    with_money = TableSchema(
        info,
        (column("accountid", "UniqueidentifierType"), column("revenue", "MoneyType"), column(CURRENCY, "LookupType")),
    )
    assert ISO_COLUMN in [c.name for c in with_currency_code(with_money).columns]
    no_money = TableSchema(info, (column("accountid", "UniqueidentifierType"), column(CURRENCY, "LookupType")))
    assert with_currency_code(no_money) == no_money
