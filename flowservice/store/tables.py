"""Our own state, as SQLAlchemy tables. Alembic migrations (``store/migrations``) create them; the models
here are the single description both the repositories and ``alembic check`` use."""

from __future__ import annotations

from sqlalchemy import BigInteger, Identity, Index, Integer, LargeBinary, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class ClientRow(Base):
    """An API client: ``client_id`` is the ``x-api-key``; only a hash of the secret is kept."""

    __tablename__ = "clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger)


class SandboxRow(Base):
    __tablename__ = "sandboxes"
    org: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class ResourceRow(Base):
    """Every Flow Service resource (connection, flow, run, ...) as its JSON document.

    One table keeps the envelope, etag and tenancy rules in one place; the document is what clients see,
    so ``property=`` filters work on any documented path. Secret parameters are never in ``doc``: they are
    sealed (AES-GCM) in ``secrets``.
    """

    __tablename__ = "resources"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org: Mapped[str] = mapped_column(String(255))
    sandbox: Mapped[str] = mapped_column(String(64))
    doc: Mapped[str] = mapped_column(Text)
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    etag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_resources_tenant_kind", "org", "sandbox", "kind", "created_at"),)


class RunQueueRow(Base):
    """Runs waiting for or held by a worker. A partial unique index keeps one running run per flow.

    ``attempt`` counts the claims of the run; with ``claimed_by`` it is the fencing token of the current one.
    ``queued_seq`` is the run's place in the order of arrival: given by the database each time the run is queued
    (``store.queue.next_in_line``), so runs queued within one millisecond, or by hosts whose clocks differ, keep
    the order in which they came. A deleted flow's runs end as ``cancelled``."""

    __tablename__ = "run_queue"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(64))
    org: Mapped[str] = mapped_column(String(255))
    sandbox: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | cancelled
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # the run's base connection (migration 0005), for the per-connection limit; "" when unknown (older rows)
    connection_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # migration 0006; an identity on PostgreSQL, the next after the largest on SQLite (whose writers take turns)
    queued_seq: Mapped[int] = mapped_column(BigInteger, Identity())

    __table_args__ = (
        Index("ix_run_queue_status_created", "status", "created_at"),
        Index("ix_run_queue_flow_status", "flow_id", "status"),
        Index("ix_run_queue_org_status", "org", "status"),
        Index("ix_run_queue_connection_id_status", "connection_id", "status"),
        Index("uq_run_queue_queued_seq", "queued_seq", unique=True),
        Index(
            "uq_run_queue_running_flow",
            "flow_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )


class RunShareRow(Base):
    """When each org (``scope`` "org") and base connection ("connection") last had a run claimed: the fair
    order serves the least recently served first, and a claim upserts its org's row first, so on PostgreSQL
    that row's lock serialises the claims of one org and the per-org and per-connection limits hold."""

    __tablename__ = "run_shares"
    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    served_at: Mapped[int] = mapped_column(BigInteger, default=0)


class FiredWindowRow(Base):
    """Schedule windows already turned into runs: the primary key makes firing a window idempotent."""

    __tablename__ = "fired_windows"
    flow_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_end: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[str] = mapped_column(String(64))


class RunErrorRow(Base):
    """Row-level errors of a run (a sample: the first ones of each run), readable through the API."""

    __tablename__ = "run_errors"
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    record: Mapped[str] = mapped_column(Text)
