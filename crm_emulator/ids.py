"""Deterministic GUIDs whose order is the row order, plus SQL Server's uniqueidentifier ordering.

Dataverse sorts by primary key with SQL Server's ``uniqueidentifier`` comparison, which looks at the last six
bytes first, then bytes 8–9, 6–7, 4–5 and 0–3 (each group left to right, as displayed). Generated ids carry
the row index in both the first group and the last six bytes, with table-constant groups in between, so the
SQL Server order, the plain string order and the row index order all agree. That makes a keyset ``$skiptoken``
a simple index while staying faithful for ids a client supplies itself (those are ordered by :func:`sql_key`).
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
    """Sort key reproducing SQL Server's uniqueidentifier order for a GUID string."""
    b = uuid.UUID(guid).bytes
    return b[10:16] + b[8:10] + b[6:8] + b[4:6] + b[0:4]


def normalize_guid(text: str) -> str | None:
    try:
        return str(uuid.UUID(text.strip("{}")))
    except ValueError:
        return None


class IdScheme:
    """Ids of one table's generated rows: ``id(i)`` is increasing in ``i`` in every order that matters."""

    def __init__(self, seed: int, table: str) -> None:
        h = stable_hash("ids", seed, table)
        self.base = 0x10000000 + (h & 0x3FFFFFFF)
        g2, g3, g4 = (h >> 30) & 0xFFFF, (h >> 46) & 0x0FFF | 0xE000, 0x8000 | (mix64(h) & 0x3FFF)
        self.hi = mix64(h + 1) & 0xFFFF
        self.mid = f"-{g2:04x}-{g3:04x}-{g4:04x}-{self.hi:04x}"
        self._mid_len = len(self.mid)

    def id(self, i: int) -> str:
        # hex() is several times faster than format specs; base >= 0x10000000 keeps the first group 8 digits.
        return hex(self.base + i)[2:] + self.mid + hex(i + 0x100000000)[3:]

    def index(self, guid: str) -> int | None:
        """The row index of a generated id, or None for an id this scheme did not produce."""
        if len(guid) != 36 or guid[8 : 8 + self._mid_len] != self.mid:
            return None
        try:
            first, last = int(guid[:8], 16), int(guid[28:], 16)
        except ValueError:
            return None
        i = first - self.base
        return i if i == last and i >= 0 else None

    def key(self, i: int) -> bytes:
        return sql_key(self.id(i))
