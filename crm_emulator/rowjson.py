"""Byte pieces for writing generated rows straight to JSON, without building a dict per row.

Generators of the big tables format each row as ``"prop":value,`` members with one bytes template; what they
splice in comes from here: timestamps from per-day and per-second tables, strings escaped once up front, and
ids formatted inline from an :class:`~crm_emulator.ids.IdScheme`'s parts.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from crm_emulator.ids import IdScheme
from crm_emulator.rows import DAY0, DAYS, TIMES

NULL = b"null"
DAYS_B = [d.encode() for d in DAYS]
TIMES_B = [t.encode() for t in TIMES]


def text(value: str) -> bytes:
    """A string's JSON escaping without the quotes, for splicing into a template between quotes."""
    return orjson.dumps(value)[1:-1]


def texts(values: Sequence[str]) -> list[bytes]:
    return [text(v) for v in values]


def ts(seconds: int) -> bytes:
    """``ts_text`` as bytes (no quotes): ``2021-03-04T05:06:07Z``."""
    d, rest = divmod(seconds, 86400)
    return DAYS_B[DAY0 + d] + TIMES_B[rest]


def id_format(scheme: IdScheme) -> bytes:
    """``scheme.id(i)`` is this format ``% scheme.pair(i)``."""
    return b"%08x" + scheme.mid.encode() + b"%012x"
