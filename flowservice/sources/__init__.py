"""Sources: one package per remote system (``dynamics/``), the network edge every HTTP source shares (``net/``),
and the registry of connection spec id → source package (``registry.py``), from which ``bootstrap`` builds the
``SourceFactory`` the services use. ``docs/adding-a-source.md`` says how to add one.

Each source package exposes ``SOURCE``, a :class:`SourcePackage`; it imports ``net`` and this module, never
another source (an import contract in ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic_settings import BaseSettings

from flowservice.ports import SourceFactory

S = TypeVar("S", bound=BaseSettings)


@dataclass(frozen=True)
class SourcePackage(Generic[S]):
    """What a source package registers: the connection spec it serves (its id and the JSON file, kept in the
    package), its own settings (a pydantic-settings class with an environment prefix of its own) and the
    factory of its clients, built from those settings."""

    spec_id: str
    connection_spec: Path
    settings: type[S]
    factory: Callable[[S], SourceFactory]

    def build(self) -> SourceFactory:
        """The source's ``SourceFactory``, its settings read from the environment."""
        return self.factory(self.settings())
