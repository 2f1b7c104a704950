"""The commands that write files: a new revision, the dependencies' YAML mirror, plain SQL in
and out."""

from __future__ import annotations

import datetime
import os
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
    SQL that turns the migrated database into what the service's models describe, and list it
    in the YAML mirror, so that `deps check` passes at once. Returns the file written, or None
    when autogenerate found nothing to change."""
    refuse_unusable_message(message)
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
    deps_sync(ctx)
    return path


def refuse_unusable_message(message: str) -> None:
    """The message names the revision's file and heads its header, so it must have words in
    it and fit on one line: an empty one gives a file named after nothing, and a line break
    would split the header that `deps check` reads."""
    if any(not character.isprintable() for character in message):
        raise UsageError(
            "-m must be one line of plain text (it becomes the file name and the header's "
            "Migration line); describe the change in a few words"
        )
    if not any(character.isalnum() for character in message):
        raise UsageError(
            '-m has no words in it; describe the change in a few words, e.g. -m "add deal stages"'
        )


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
    """Every revision as plain SQL in `target`, a new or empty folder."""
    _refuse_unmakeable_folder(target)
    return plainsql.export_sql(ctx.graph, target)


def _refuse_unmakeable_folder(target: Path) -> None:
    """Refuse a target folder that could not be created, before any file is written: the
    nearest existing folder above it must be a folder this user may write into."""
    existing = next(folder for folder in (target, *target.parents) if folder.exists())
    if existing == target:
        return  # plainsql refuses anything but an empty folder, with its own message
    if not existing.is_dir():
        raise UsageError(
            f"cannot create {target}: {existing} is a file, not a folder; export into a new "
            "folder elsewhere"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot create {target}: this user may not write into {existing}")


def import_sql(ctx: Context, source: Path, service: str) -> list[Path]:
    """Revision files from plain-SQL migrations (a file, or a folder of them)."""
    if not source.exists():
        raise UsageError(
            f"no such file or folder: {source}; give a .sql migration or a folder of them"
        )
    written = plainsql.import_sql(ctx.settings, ctx.graph, source, service)
    deps_sync(ctx)
    return written
