"""Deterministic GUIDs whose SQL Server order is the row order, plus SQL Server's uniqueidentifier ordering.

Dataverse sorts by primary key with SQL Server's ``uniqueidentifier`` comparison, which looks at the last six
bytes first, then bytes 8–9, 6–7, 4–5 and 0–3 of the .NET byte array, whose first three groups are
little-endian: bytes 8–15 count left to right as displayed, each of the first three groups right to left.
Generated ids always grow with the row index in the last six bytes, so that order is the row order and a
keyset ``$skiptoken`` is a simple index, while ids a client supplies itself are ordered by :func:`sql_key`.
:class:`SequentialIds` (the default) also carry the index in the first group, so the plain string order
agrees too; :class:`~crm_emulator.random_ids.RandomIds` (``--random-guids``) do not.
"""

from __future__ import annotations

import hashlib
import uuid

M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread 64-bit hash used to derive row values from an index."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of strings that is the same in every process (``hash()`` is salted per process)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def sql_key(guid: str) -> bytes:
    """Sort key reproducing SQL Server's uniqueidentifier order for a GUID string.

    ``SqlGuid`` compares the bytes of ``Guid.ToByteArray()`` (Python's ``bytes_le``: the first three groups
    little-endian) in the order 10–15, 8–9, 6–7, 4–5, 0–3.
    """
    b = uuid.UUID(guid).bytes_le
    return b[10:16] + b[8:10] + b[6:8] + b[4:6] + b[0:4]


def normalize_guid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.strip("{}")))
    except ValueError:
        return None


class IdScheme:
    """Ids of one table's generated rows: ``id(i)`` is increasing in ``i`` in SQL Server's order.

    Every id is ``b"%08x" + mid + b"%012x"`` formatted with ``pair(i)``: the first group and the last twelve
    digits (bytes 10–15, the ones SQL Server compares first) vary per row, the three groups between are
    constant per table. Generators splice ids into their templates with that format.
    """

    mid: str
    sequential: bool

    def pair(self, i: int) -> tuple[int, int]:
        raise NotImplementedError

    def tails(self, template: bytes, idx: range) -> list[bytes]:
        """``template % pair(i)`` for every ``i`` of ``idx`` (a run of rows' trailing primary keys)."""
        raise NotImplementedError

    def index(self, guid: str) -> int | None:
        """The row index of a generated id, or None for an id this scheme did not produce."""
        raise NotImplementedError

    def id(self, i: int) -> str:
        first, last = self.pair(i)
        return f"{first:08x}{self.mid}{last:012x}"

    def key(self, i: int) -> bytes:
        return sql_key(self.id(i))

    def new_id(self, i: int) -> str:
        """The id of a row created through the API, given the next free index (``NEWSEQUENTIALID()``)."""
        return self.id(i)


class SequentialIds(IdScheme):
    """Ids carrying the row index in the first group and the last digits, so the SQL Server order, the plain
    string order and the row order all agree (like ``NEWSEQUENTIALID()``)."""

    sequential = True

    def __init__(self, seed: int, table: str) -> None:
        h = stable_hash("ids", seed, table)
        self.base = 0x10000000 + (h & 0x3FFFFFFF)
        g2, g3, g4 = (h >> 30) & 0xFFFF, (h >> 46) & 0x0FFF | 0xE000, 0x8000 | (mix64(h) & 0x3FFF)
        self.hi = mix64(h + 1) & 0xFFFF
        self.hi48 = self.hi << 32
        self.mid = f"-{g2:04x}-{g3:04x}-{g4:04x}-"
        self._tail = f"-{g2:04x}-{g3:04x}-{g4:04x}-{self.hi:04x}"
        self._tail_len = len(self._tail)

    def pair(self, i: int) -> tuple[int, int]:
        return self.base + i, self.hi48 + i

    def id(self, i: int) -> str:
        # hex() is several times faster than format specs; base >= 0x10000000 keeps the first group 8 digits.
        return hex(self.base + i)[2:] + self._tail + hex(i + 0x100000000)[3:]

    def tails(self, template: bytes, idx: range) -> list[bytes]:
        base, hi48 = self.base, self.hi48
        return [template % (base + i, hi48 + i) for i in idx]

    def index(self, guid: str) -> int | None:
        if len(guid) != 36 or guid[8 : 8 + self._tail_len] != self._tail:
            return None
        try:
            first, last = int(guid[:8], 16), int(guid[28:], 16)
        except ValueError:
            return None
        i = first - self.base
        return i if i == last and i >= 0 else None
