"""The commands that write files: a new revision, the dependencies' YAML mirror, plain SQL in
and out."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from migrator import database
from migrator.commands import plainsql
from migrator.context import Context
from migrator.errors import CheckFailed, MigratorError, UsageError
from migrator.model import guards, mirror, services, template
from migrator.model.graph import RevisionGraph
from migrator.model.plan import named_revision
from migrator.run.engine import CONNECTION, SAY


def new_revision(
    ctx: Context,
    say: Callable[[str], None],
    *,
    service: str,
    message: str,
    autogenerate: bool = False,
    depends_on: Iterable[str] = (),
) -> Path | None:
    """Write the next revision of `service`: an empty template, or (with `autogenerate`) the
    SQL that turns the migrated database into what the service's models describe. Returns the
    file written, or None when autogenerate found nothing to change."""
    settings, graph = ctx.settings, ctx.graph
    chosen = services.resolve(service)
    needs = sorted({named_revision(graph, rev, None) for rev in depends_on})
    if any(graph[rev].service == chosen for rev in needs):
        raise UsageError(
            "--depends-on names revisions of other services; the service's own "
            "order comes from down_revision"
        )
    first = not graph.branch(chosen)
    folder = chosen.versions_dir(settings.project_root)
    folder.mkdir(parents=True, exist_ok=True)
    options: dict = {
        "head": "base" if first else f"{chosen.branch_label}@head",
        "version_path": str(folder),
        "depends_on": needs or None,
    }
    rev_id = template.next_revision_id(graph.revisions, datetime.date.today())
    config = ctx.alembic_config()
    config.attributes[SAY] = say
    if autogenerate:
        with ctx.connect() as connection:
            rows = graph.status(database.database_heads(connection, settings))
            behind = sum(len(row.pending) for row in rows)
            if behind:
                raise MigratorError(
                    f"the database has {behind} pending revision(s); autogenerate compares the "
                    "models with a database at head, so run `migrate up` first"
                )
            config.attributes[CONNECTION] = connection
            try:
                written = command.revision(
                    config,
                    message=message,
                    autogenerate=True,
                    rev_id=rev_id,
                    branch_label=chosen.branch_label if first else None,
                    **options,
                )
            except CommandError as error:
                raise MigratorError(
                    f"autogenerate refused: {error}; bring the database to head with "
                    "`migrate up` first, since the comparison starts from it"
                ) from error
        if not written:
            return None
        path = Path(written[0].path if isinstance(written, list) else written.path)
    else:
        script = ScriptDirectory.from_config(config).generate_revision(
            rev_id,
            f"{chosen.name} {message}",
            branch_labels=[chosen.branch_label] if first else None,
            **options,
            **template.arguments(settings.project_root, chosen, message, needs),
        )
        assert script is not None
        path = Path(script.path)
    if needs:
        deps_sync(ctx)
    return path


def deps_check(ctx: Context) -> int:
    """Fail when a revision file breaks the house rules or the YAML mirror disagrees with the
    revisions' depends_on; returns how many revisions agree."""
    broken = guards.problems(ctx.settings.project_root)
    if broken:
        raise CheckFailed(f"{len(broken)} problem(s) with the revision files", broken)
    mirror.check(ctx.graph, ctx.settings.dependencies_file)
    return len(ctx.graph.revisions)


def deps_sync(ctx: Context) -> bool:
    """Rewrite the YAML mirror from the revisions (read afresh); False when in step."""
    graph = RevisionGraph.load(ctx.settings.project_root)
    return mirror.write(graph, ctx.settings.dependencies_file)


def export_sql(ctx: Context, target: Path) -> list[Path]:
    return plainsql.export_sql(ctx.graph, target)


def import_sql(ctx: Context, source: Path, service: str) -> list[Path]:
    written = plainsql.import_sql(ctx.settings, ctx.graph, source, service)
    deps_sync(ctx)
    return written
