"""Random-looking generated ids (``--random-guids``), like the ``NEWID()`` keys of rows users create.

The first group is a per-row hash, so the plain string order of ids is unrelated to the row order. The last
twelve digits (bytes 10–15, which SQL Server compares first) are ``i × stride + jitter`` with ``stride =
2**48 // rows`` and a per-row ``jitter < stride``: they spread over the whole 48-bit space like random keys do,
yet still grow with the row index, so SQL Server's order stays the row order the data layer pages by. The
groups between are constant per table (with the version-4 and variant bits of a random GUID). Rows created
through the API get ``uuid4()`` ids, which fall anywhere in that order.
"""

from __future__ import annotations

import uuid

from crm_emulator.ids import M64, IdScheme, SequentialIds, mix64, stable_hash
from crm_emulator.vector import mix_all

M32 = 0xFFFFFFFF
SPACE = 1 << 48


class RandomIds(IdScheme):
    sequential = False

    def __init__(self, seed: int, table: str, count: int) -> None:
        h = stable_hash("random-ids", seed, table)
        self.salt = mix64(h) & M64
        self.stride = max(1, SPACE // max(count, 1))
        self.count = max(count, 1)
        g2, g3, g4 = (h >> 16) & 0xFFFF, 0x4000 | ((h >> 32) & 0x0FFF), 0x8000 | ((h >> 44) & 0x3FFF)
        self.mid = f"-{g2:04x}-{g3:04x}-{g4:04x}-"

    def _from_hash(self, i: int, hashed: int) -> tuple[int, int]:
        return hashed >> 32, i * self.stride + (hashed & M32) % self.stride

    def pair(self, i: int) -> tuple[int, int]:
        return self._from_hash(i, mix64(self.salt ^ i))

    def tails(self, template: bytes, idx: range) -> list[bytes]:
        salt = self.salt
        return [template % self._from_hash(i, h) for i, h in zip(idx, mix_all([salt ^ i for i in idx]), strict=True)]

    def index(self, guid: str) -> int | None:
        if len(guid) != 36 or guid[8:24] != self.mid:
            return None
        try:
            last = int(guid[24:], 16)
        except ValueError:
            return None
        i = last // self.stride
        return i if i < self.count and self.id(i) == guid else None

    def new_id(self, i: int) -> str:
        return str(uuid.uuid4())


def id_scheme(seed: int, table: str, count: int, random_guids: bool) -> IdScheme:
    return RandomIds(seed, table, count) if random_guids else SequentialIds(seed, table)
