"""Our own state, as SQLAlchemy tables. Alembic migrations (``store/migrations``) create them; the models
here are the single description both the repositories and ``alembic check`` use."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, MetaData, String, Text
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
