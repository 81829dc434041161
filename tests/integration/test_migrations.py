"""The migrations build the schema the models describe, on SQLite and PostgreSQL: a model changed without a
migration (or a migration that forgot a column, an index, a type) shows up here, not in production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from flowservice.store.db import make_engine, migrate
from flowservice.store.tables import Base
from tests.fixtures.server import postgres_url

#: indexes made by hand in a migration (an expression index the models cannot declare portably)
MIGRATION_ONLY_INDEXES = {"ix_resources_runs_by_flow"}


def _kept(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    return not (kind == "index" and name in MIGRATION_ONLY_INDEXES)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database built by the migrations alone (PostgreSQL's test databases are copies of one migrated so)."""
    url = postgres_url() if request.param == "postgres" else f"sqlite:///{tmp_path / 'schema.db'}"
    engine = make_engine(url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_the_migrations_build_exactly_the_schema_of_the_models(migrated: Engine) -> None:
    with migrated.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _kept, "compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
