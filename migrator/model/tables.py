"""The services' models: SQLAlchemy tables, one schema per service, gathered into one MetaData.

Each `services/<service>/models.py` declares its tables on a `metadata` of its own; the loader
copies every service's tables into one fresh MetaData per call, where a foreign key from crm to
`auth.users` resolves like any other (tests load copies of the project side by side, so nothing
is shared between calls). Alembic's comparison then reads one service's tables against its
schema.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, DateTime, MetaData, Uuid, func, text

from migrator.errors import MigratorError
from migrator.model import services


def timestamp(name: str) -> Column:
    """`<name> timestamptz NOT NULL DEFAULT now()`, as the revisions write created_at and
    updated_at; one definition so that no models file drifts from the house convention."""
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


def uuid_id() -> Column:
    """`id uuid DEFAULT gen_random_uuid()`, the key column of most tables (each table still
    names its own primary key constraint, as its revision does)."""
    return Column("id", Uuid, nullable=False, server_default=text("gen_random_uuid()"))


class ModelsError(MigratorError):
    """A models file failed to load."""


def load(project_root: Path) -> MetaData:
    """A fresh MetaData holding every service's tables, read from the project's models files."""
    loaded = MetaData()
    tag = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:8]
    for service in services.SERVICES:
        path = project_root / "services" / service.name / "models.py"
        if not path.is_file():
            continue
        spec = importlib.util.spec_from_file_location(f"_models_{tag}_{service.name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ModelsError(f"{path} does not load: {error}") from error
        declared = getattr(module, "metadata", None)
        if not isinstance(declared, MetaData):
            raise ModelsError(f"{path} declares no `metadata = MetaData()` for its tables")
        for table in declared.tables.values():
            table.to_metadata(loaded)
    return loaded


def include_names_in(schemas: list[str]) -> Callable[[str | None, str, dict], bool]:
    """Alembic's `include_name` hook that keeps reflection to the given schemas."""

    def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
        if type_ == "schema":
            return name in schemas
        if type_ == "table":
            return parent_names.get("schema_name") in schemas
        return True

    return include_name


def include_objects_in(
    schemas: list[str],
) -> Callable[[object, str | None, str, bool, object], bool]:
    """Alembic's `include_object` hook that keeps the models' side to the given schemas."""

    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, other: object
    ) -> bool:
        if type_ == "table":
            return getattr(obj, "schema", None) in schemas
        return True

    return include_object


def differences(connection: Connection, models: MetaData, service: services.Service) -> list:
    """What Alembic's autogenerate finds between one service's models and its schema."""
    context = MigrationContext.configure(
        connection,
        opts={
            "include_schemas": True,
            "include_name": include_names_in([service.schema]),
            "include_object": include_objects_in([service.schema]),
            "compare_type": True,
        },
    )
    return compare_metadata(context, models)
