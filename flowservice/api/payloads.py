"""The JSON the API reads and writes: the one place ``Any`` appears in ``flowservice/api``.

A body is parsed by orjson and its shape is checked by the service that owns it, so the API only knows that a
document is an object (``JsonObject``); a request body not yet handed on is ``object``. ``JsonValue`` is the
response model ``route`` gives FastAPI: what a route returns is serialized as any JSON value, whatever its
annotation says to mypy, so that precise annotations change no byte of a response.
"""

from __future__ import annotations

from typing import Any, TypeAlias

JsonObject: TypeAlias = dict[str, Any]
JsonValue: TypeAlias = Any
