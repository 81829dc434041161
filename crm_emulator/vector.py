"""SplitMix64 over many values at once, for rendering a run of rows without a Python call per hash.

CPython spends ~0.3 µs on one :func:`~crm_emulator.ids.mix64`; a row needs three or four. Packing the values
into one big integer, 128 bits per lane, lets the multiply/shift/xor steps run as a handful of big-integer
operations over all lanes: each lane's 64×64-bit product fits its 128 bits, and masking after every shift drops
what leaked in from the next lane. Results are bit-for-bit those of ``mix64``.
"""

from __future__ import annotations

from array import array
from functools import lru_cache

from crm_emulator.ids import M64, mix64

#: Below this many values the packing costs more than it saves.
PACK_MIN = 16


@lru_cache(maxsize=8)
def _lanes(n: int) -> tuple[int, int]:
    """(1 in every lane, 2**64-1 in every lane) for ``n`` 128-bit lanes."""
    one = int.from_bytes(array("Q", [1, 0] * n).tobytes(), "little")
    return one, one * M64


def mix_all(values: list[int]) -> list[int]:
    """``[mix64(v) for v in values]`` for 64-bit values, computed lane-parallel."""
    n = len(values)
    if n < PACK_MIN:
        return [mix64(v) for v in values]
    one, low = _lanes(n)
    lanes = array("Q", bytes(16 * n))
    lanes[::2] = array("Q", values)
    x = int.from_bytes(lanes.tobytes(), "little")
    x = (x + one * 0x9E3779B97F4A7C15) & low
    x = ((x ^ ((x >> 30) & low)) * 0xBF58476D1CE4E5B9) & low
    x = ((x ^ ((x >> 27) & low)) * 0x94D049BB133111EB) & low
    x ^= (x >> 31) & low
    out = array("Q")
    out.frombytes(x.to_bytes(16 * n, "little"))
    return out[::2].tolist()
