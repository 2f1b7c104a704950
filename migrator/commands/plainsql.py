"""Plain SQL in and out: the format migrations had before this tool, and what `psql -f` runs.

The plain format is one file per migration, `{id}_{service}_{description}.sql`, with a header of
`-- Key: value` comments (Migration, Service, Author, Date, Dependencies) and its statements
wrapped in BEGIN/COMMIT, and the rollback under the same name in a `rollback/` folder beside
it. `import_sql` turns such files into revision files, keeping their ids, dependencies and
bodies; `export_sql` writes every revision back out that way, its statements the plan's (those
PostgreSQL refuses in a transaction stand outside BEGIN/COMMIT), with an ORDER file listing them
in dependency order for an operator who must apply them by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from pglast import ast

from migrator.config import Settings, alembic_config
from migrator.errors import UsageError
from migrator.model import guards, render, services, sql, template
from migrator.model import plan as planning
from migrator.model.graph import RevisionGraph
from migrator.model.revision import HEADER_FIELDS, Revision, parse_header

ORDER_FILE = "ORDER"


def _header(revision: Revision) -> str:
    lines = [f"-- {key}: {revision.header.get(key, '')}" for key in HEADER_FIELDS]
    down = revision.down_revisions[0] if revision.down_revisions else "nothing"
    lines.append(f"-- Revision: {revision.id} (after {down} in its service)")
    return "\n".join(lines)


def export_sql(graph: RevisionGraph, target: Path) -> list[Path]:
    """Write every revision as plain SQL into `target`; returns the schema files in order.
    The statements are the plan's: a backfill is the UPDATE it amounts to."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} exists and is not an empty folder; export into a new folder so that no "
            "file is overwritten"
        )
    written = []
    for revision in graph.in_order(graph.revisions):
        known = graph[revision]
        name = known.path.with_suffix(".sql").name
        for folder, direction in (("schema", "upgrade"), ("rollback", "downgrade")):
            [item] = planning.build(graph, (), direction, [revision]).items
            path = target / known.service.name / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{_header(known)}\n\n{render.script(item)}\n")
        written.append(target / known.service.name / "schema" / name)
    (target / ORDER_FILE).write_text("".join(f"{path.relative_to(target)}\n" for path in written))
    return written


@dataclass(frozen=True)
class PlainMigration:
    """One migration in the plain format, read."""

    path: Path
    revision: str
    header: dict[str, str]
    upgrade: str
    downgrade: str

    @property
    def dependencies(self) -> list[str]:
        try:
            listed = json.loads(self.header.get("Dependencies") or "[]")
        except json.JSONDecodeError as error:
            raise UsageError(f"{self.path.name}: Dependencies is not a JSON list") from error
        return [str(item) for item in listed]


def _leading_comments(text: str) -> str:
    """The `--` lines before the first statement, without their dashes: the header."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped[2:].strip())
        elif stripped:
            break
    return "\n".join(lines)


def _body(path: Path) -> str:
    """The statements of a plain file as written, without its BEGIN/COMMIT (the tool owns
    transactions), read with PostgreSQL's parser."""
    text = path.read_text()
    try:
        parsed = sql.parse(text)
    except sql.SqlError as error:
        raise UsageError(f"{path.name}: {error}") from error
    kept = []
    for raw in parsed:
        if isinstance(raw.stmt, ast.TransactionStmt):
            continue
        start = raw.stmt_location or 0
        end = start + raw.stmt_len if raw.stmt_len else len(text)
        kept.append(text[start:end].strip() + ";")
    return "\n\n".join(kept)


def read_plain(path: Path, service: services.Service) -> PlainMigration:
    stem = path.stem
    revision = stem[:12]
    if not (guards.is_house_id(revision) and stem[12:].startswith(f"_{service.name}_")):
        raise UsageError(
            f"{path.name} is not named {{YYYYMMDD}}_{{NNN}}_{service.name}_{{description}}.sql"
        )
    rollback = path.parent / "rollback" / path.name
    if not rollback.is_file():
        rollback = path.parent.parent / "rollback" / path.name
    if not rollback.is_file():
        raise UsageError(
            f"{path.name} has no rollback: expected rollback/{path.name} beside it; write the "
            "rollback first, a migration nobody can undo is not imported"
        )
    return PlainMigration(
        path=path,
        revision=revision,
        header=parse_header(_leading_comments(path.read_text())),
        upgrade=_body(path),
        downgrade=_body(rollback),
    )


def _description(migration: PlainMigration, service: services.Service) -> str:
    """`create products` from `20240101_004_erp_create_products.sql`."""
    prefix = f"{migration.revision}_{service.name}_"
    return migration.path.stem.removeprefix(prefix).replace("_", " ")


def import_sql(settings: Settings, graph: RevisionGraph, source: Path, service: str) -> list[Path]:
    """Turn plain migrations of one service (a file, or a folder of them) into revision files
    chained after the service's current head; returns the files written."""
    chosen = services.resolve(service)
    files = sorted(source.glob("*.sql")) if source.is_dir() else [source]
    if not files:
        raise UsageError(f"no .sql files in {source}")
    migrations = sorted((read_plain(path, chosen) for path in files), key=lambda m: m.revision)
    known = set(graph.revisions)
    for migration in migrations:
        if migration.revision in known:
            raise UsageError(
                f"{migration.path.name}: revision {migration.revision} exists already; "
                "nothing was imported"
            )
        missing = [dep for dep in migration.dependencies if dep not in known]
        if missing:
            raise UsageError(
                f"{migration.path.name} depends on {', '.join(missing)}, which no revision "
                "defines; import those first. Nothing was imported"
            )
        known.add(migration.revision)
    scripts = ScriptDirectory.from_config(alembic_config(settings))
    branch = graph.branch(chosen)
    written = []
    for migration in migrations:
        first = not branch and not written
        arguments = template.arguments(
            settings.project_root,
            chosen,
            migration.header.get("Migration") or _description(migration, chosen),
            migration.dependencies,
            migration.upgrade,
            migration.downgrade,
        )
        arguments["author"] = migration.header.get("Author") or arguments["author"]
        arguments["date"] = migration.header.get("Date") or None
        script = scripts.generate_revision(
            migration.revision,
            f"{chosen.name} {_description(migration, chosen)}",
            head="base" if first else f"{chosen.branch_label}@head",
            branch_labels=[chosen.branch_label] if first else None,
            version_path=str(chosen.versions_dir(settings.project_root)),
            depends_on=migration.dependencies or None,
            **arguments,
        )
        assert script is not None
        written.append(Path(script.path))
    return written
