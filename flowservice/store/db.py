"""Engine creation and schema migration. SQLite (embedded default) gets WAL and a busy timeout so the API,
scheduler and workers of one process share it; PostgreSQL is used as is."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import ClauseElement, Engine, create_engine, event
from sqlalchemy.sql.compiler import SQLCompiler

from flowservice.ports import WriteWouldWait, writes_must_not_wait

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a write waits for another process's write lock (not on an event loop)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, pool_size=16)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[None]:
    """Serialise this process's write transactions on SQLite.

    SQLite has one writer; threads that lose the race sleep in its busy handler (backing off up to 100 ms)
    instead of waking when the lock frees, which made p99 latency of concurrent writes climb to a second.
    A process lock hands the turn over at once. PostgreSQL needs none.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    with _LOCKS_GUARD:
        lock = _WRITE_LOCKS.setdefault(engine, threading.Lock())
    with lock:
        yield


class DriverStatement:
    """One prebuilt write run straight on a pooled driver connection, in a transaction of its own.

    For the hottest write (creating a resource) SQLAlchemy's per-execution work (connection wrapper, execution
    context, cache lookup, result set-up) cost as much as SQLite's own insert and commit: ~180 µs against ~100 µs
    this way, measured on SQLite. The statement is compiled once for the engine's dialect; values must be plain
    driver types (str, int, bytes, None), which is all the resources table holds.
    """

    def __init__(self, engine: Engine, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        assert isinstance(compiled, SQLCompiler)
        self.engine = engine
        self.sql = str(compiled)
        self.positions = compiled.positiontup  # None for named parameter styles (psycopg)

    def run(self, values: dict[str, Any]) -> None:
        params = [values[k] for k in self.positions] if self.positions is not None else values
        if writes_must_not_wait.get():
            self._run_without_waiting(params)
            return
        with writing(self.engine):
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(self.sql, params)
                finally:
                    cursor.close()
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            finally:
                connection.close()

    def _run_without_waiting(self, params: Any) -> None:
        """The write on the caller's thread only if nothing has to wait: this process's SQLite writer lock is free
        and so is the file's (another process may hold it for seconds); else ``WriteWouldWait``, nothing written.
        A SQLite insert in WAL mode is then a bounded local append (no fsync with ``synchronous=NORMAL``)."""
        if self.engine.dialect.name != "sqlite":
            raise WriteWouldWait()
        with _LOCKS_GUARD:
            lock = _WRITE_LOCKS.setdefault(self.engine, threading.Lock())
        if not lock.acquire(blocking=False):
            raise WriteWouldWait()
        try:
            connection = _no_wait_connection(self.engine)
            cursor = connection.cursor()
            try:
                cursor.execute(self.sql, params)
                connection.commit()
            except BaseException as exc:
                connection.rollback()
                if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
                    raise WriteWouldWait() from exc
                raise
            finally:
                cursor.close()
        finally:
            lock.release()


_NO_WAIT: weakref.WeakKeyDictionary[Engine, Any] = weakref.WeakKeyDictionary()


def _no_wait_connection(engine: Engine) -> Any:
    """The engine's own SQLite connection for writes that must not wait, opened once with ``busy_timeout = 0``
    and used only under the engine's write lock: setting the timeout to 0 and back on a pooled connection for
    every write cost two statements and a pool round trip, a fifth of a create. ``dispose`` closes it (an engine
    event would do it too, but any engine listener makes SQLAlchemy dispatch events on every statement)."""
    connection = _NO_WAIT.get(engine)
    if connection is None:
        connection = engine.raw_connection()
        connection.detach()  # ours until the engine is disposed, never handed to anyone else
        connection.cursor().execute("PRAGMA busy_timeout = 0")
        _NO_WAIT[engine] = connection
    return connection


def dispose(engine: Engine) -> None:
    """Close the engine's connections, its own no-wait writer's included."""
    with _LOCKS_GUARD:
        lock = _WRITE_LOCKS.setdefault(engine, threading.Lock())
    with lock:
        connection = _NO_WAIT.pop(engine, None)
        if connection is not None:
            connection.close()
    engine.dispose()
