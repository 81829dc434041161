"""Per-connection state that outlives one ``DynamicsSource``: the service creates a source per request, but the
token, the adaptive concurrency limit and the metadata belong to the connection.

Keys are ``"<connection id>:<hash of the auth params>"``: editing a connection's credentials or serviceUri
changes the key, and ``invalidate(connection_id)`` drops everything cached for it (the service calls it after a
PATCH and a DELETE). Bounded: at most ``max_entries`` connections (the least recently used is dropped), each
dropped after ``idle_seconds`` without use; metadata entries expire after ``metadata_ttl_seconds``; at most
``MAX_SCHEMAS`` described tables are kept per connection, so the cache never holds every attribute of a large org.
A dropped entry's token providers are closed; sources still running keep what they hold until they finish.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from flowservice.ports import TableSchema
from flowservice.sources.net.limiter import AdaptiveLimiter

from .auth import TokenProvider
from .metadata import TableMeta

T = TypeVar("T")
MAX_SCHEMAS = 256


def connection_key(params: Mapping[str, Any], auth_kind: str, connection_id: str | None) -> str:
    canonical = {k: str(v) for k, v in sorted(params.items()) if not k.startswith("_")}
    digest = hashlib.sha256(orjson.dumps({"kind": auth_kind, "params": canonical})).hexdigest()[:24]
    return f"{connection_id or '-'}:{digest}"


@dataclass
class _Entry:
    tokens: dict[str, TokenProvider] = field(default_factory=dict)  # by authority
    limiter: AdaptiveLimiter | None = None
    tables: tuple[float, list[TableMeta]] | None = None
    schemas: OrderedDict[str, tuple[float, TableSchema, TableMeta]] = field(default_factory=OrderedDict)
    unselectable: dict[str, set[str]] = field(default_factory=dict)  # by table: see ``reader.Reader``
    choices: OrderedDict[str, tuple[float, Any]] = field(default_factory=OrderedDict)  # see ``labels.py``
    used: float = 0.0

    def release(self) -> None:
        for provider in self.tokens.values():
            provider.close()
        self.tokens.clear()


_ALL: weakref.WeakSet[ConnectionCache] = weakref.WeakSet()


class ConnectionCache:
    def __init__(
        self, max_entries: int = 256, idle_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.max_entries = max_entries
        self.idle_seconds = idle_seconds
        self._shares: dict[str, int] = {}  # connection id → processes reading it at once, when more than one
        _ALL.add(self)

    def __len__(self) -> int:
        with self._lock:
            self._evict(self._clock())
            return len(self._entries)

    def _entry(self, key: str) -> _Entry:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.used = now
        self._entries.move_to_end(key)
        self._evict(now)
        return entry

    def _evict(self, now: float) -> None:
        """Drop idle entries (the oldest come first) and the least recently used beyond ``max_entries``."""
        while self._entries:
            key, oldest = next(iter(self._entries.items()))
            if len(self._entries) <= self.max_entries and now - oldest.used <= self.idle_seconds:
                return
            del self._entries[key]
            oldest.release()

    def limiter(self, key: str, maximum: int) -> AdaptiveLimiter:
        with self._lock:
            entry = self._entry(key)
            if entry.limiter is None:
                entry.limiter = AdaptiveLimiter(maximum)
                entry.limiter.share(self._shares.get(_connection_id(key), 1))
            return entry.limiter

    def share(self, connection_id: str, processes: int) -> None:
        """``processes`` processes read ``connection_id`` at once: its limiters here, now and later, keep to
        their share of the connection's concurrency (``AdaptiveLimiter.share``)."""
        with self._lock:
            if processes > 1:
                self._shares[connection_id] = processes
            else:
                self._shares.pop(connection_id, None)
            for key, entry in self._entries.items():
                if entry.limiter is not None and _connection_id(key) == connection_id:
                    entry.limiter.share(processes)

    def token_provider(self, key: str, authority: str, build: Callable[[], TokenProvider]) -> TokenProvider:
        with self._lock:
            entry = self._entry(key)
            provider = entry.tokens.get(authority)
            if provider is None:
                provider = entry.tokens[authority] = build()
            return provider

    def authorities(self, key: str) -> list[str]:
        with self._lock:
            entry = self._lookup(key)
            return list(entry.tokens) if entry else []

    def tables(self, key: str, ttl: float) -> list[TableMeta] | None:
        with self._lock:
            entry = self._lookup(key)
            if entry is None or entry.tables is None or self._clock() - entry.tables[0] > ttl:
                return None
            return entry.tables[1]

    def put_tables(self, key: str, tables: list[TableMeta]) -> None:
        with self._lock:
            self._entry(key).tables = (self._clock(), tables)

    def schema(self, key: str, table: str, ttl: float) -> tuple[TableSchema, TableMeta] | None:
        with self._lock:
            entry = self._lookup(key)
            hit = entry.schemas.get(table) if entry else None
            if entry is None or hit is None or self._clock() - hit[0] > ttl:
                return None
            entry.schemas.move_to_end(table)
            return hit[1], hit[2]

    def put_schema(self, key: str, table: str, schema: TableSchema, meta: TableMeta) -> None:
        with self._lock:
            schemas = self._entry(key).schemas
            schemas[table] = (self._clock(), schema, meta)
            schemas.move_to_end(table)
            while len(schemas) > MAX_SCHEMAS:
                schemas.popitem(last=False)

    def choices(self, key: str, name: str, ttl: float) -> Any | None:
        """Cached choice metadata (a table's option sets, the org's base language) younger than ``ttl``."""
        with self._lock:
            entry = self._lookup(key)
            hit = entry.choices.get(name) if entry else None
            if entry is None or hit is None or self._clock() - hit[0] > ttl:
                return None
            entry.choices.move_to_end(name)
            return hit[1]

    def put_choices(self, key: str, name: str, value: Any) -> None:
        with self._lock:
            choices = self._entry(key).choices
            choices[name] = (self._clock(), value)
            choices.move_to_end(name)
            while len(choices) > MAX_SCHEMAS:
                choices.popitem(last=False)

    def unselectable(self, key: str, table: str) -> set[str]:
        """The shared, mutable set of a table's properties the Web API refused in ``$select``."""
        with self._lock:
            return self._entry(key).unselectable.setdefault(table, set())

    def forget_schema(self, key: str, table: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry:
                entry.schemas.pop(table, None)

    def invalidate(self, key_or_connection_id: str) -> None:
        """Drop a full key, or every key of a connection id: metadata, tokens and limiter. Sources still
        running keep the objects they hold; new ones start afresh."""
        with self._lock:
            for key in list(self._entries):
                if key == key_or_connection_id or key.startswith(f"{key_or_connection_id}:"):
                    self._entries.pop(key).release()

    def clear(self) -> None:
        with self._lock:
            for entry in self._entries.values():
                entry.release()
            self._entries.clear()

    def _lookup(self, key: str) -> _Entry | None:
        now = self._clock()
        self._evict(now)
        entry = self._entries.get(key)
        if entry is not None:
            entry.used = now
            self._entries.move_to_end(key)
        return entry


def _connection_id(key: str) -> str:
    return key.partition(":")[0]


def clear_all() -> None:
    for cache in list(_ALL):
        cache.clear()


CACHE = ConnectionCache()
