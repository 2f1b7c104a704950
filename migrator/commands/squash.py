"""`migrate squash`: one revision in place of a service's branch up to a revision.

The squashed revision's SQL is what the server says the schema is once the branch ran: a
scratch database is brought to the revision, and pg_dump (the wheel's) writes its schema and
the rows the range inserted. The tool's own schema is not dumped, nor are owners and grants.
"""

from __future__ import annotations

import datetime
import subprocess

from sqlalchemy.engine import URL

from migrator import urls
from migrator.commands.authoring import deps_sync
from migrator.context import Context
from migrator.errors import MigratorError
from migrator.model import plan as planning
from migrator.model import squash as squashing
from migrator.model import template
from migrator.model.squash import Squash
from migrator.ops.backup import client_environment, dsn_without_password
from migrator.ops.embedded import client_binary
from migrator.ops.scratch import scratch_database
from migrator.run.apply import apply_plan


def prepare(ctx: Context, service: str, through: str) -> Squash:
    """What squashing `service` through `through` writes and removes; nothing is written yet.
    Replays the range on a scratch database of the context's server."""
    graph = ctx.graph
    squashed = squashing.range_through(graph, service, through)
    revision = template.next_revision_id(graph.revisions, datetime.date.today())
    upgrade_sql, downgrade_sql = _replayed_bodies(ctx, squashed)
    return squashing.squash(
        graph,
        squashed,
        revision,
        upgrade_sql,
        downgrade_sql,
        project_root=ctx.settings.project_root,
    )


def write(ctx: Context, squash: Squash) -> None:
    """Write the squashed revision and the files that now point at it, remove the revisions
    it replaces, and bring migration-dependencies.yml in step."""
    squash.path.write_text(squash.text)
    for path, text in squash.rewritten.items():
        path.write_text(text)
    for path in squash.removed:
        path.unlink()
    deps_sync(ctx)


def _replayed_bodies(ctx: Context, squashed: squashing.Range) -> tuple[str, str]:
    with scratch_database(ctx.url, "squash") as scratch:
        plan = planning.upgrade(ctx.graph, (), [squashed.through])
        apply_plan(ctx.on(scratch, events=lambda event: None), plan)
        schema = _dump(
            scratch,
            "--schema-only",
            "--clean",
            "--if-exists",
            "--schema",
            _pattern(squashed.service.schema),
        )
        schema_name = _pattern(squashed.service.schema)
        tables = [
            argument
            for table in squashing.inserted_tables(squashed)
            for argument in ("--table", f"{schema_name}.{_pattern(table)}")
        ]
        data = ""
        if tables:
            data = _dump(
                scratch, "--data-only", "--column-inserts", "--on-conflict-do-nothing", *tables
            )
    return squashing.bodies(schema, data)


def _pattern(name: str) -> str:
    """A name as pg_dump's patterns take it literally (no case folding, no wildcards)."""
    return '"' + name.replace('"', '""') + '"'


def _dump(url: URL, *options: str) -> str:
    """pg_dump's script of the scratch database, without owners and grants."""
    command = [
        str(client_binary("pg_dump")),
        "--no-owner",
        "--no-privileges",
        "--no-password",
        *options,
        dsn_without_password(url),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=client_environment(url), check=False
    )
    if done.returncode != 0:
        reason = urls.scrub(done.stderr.strip(), url)
        raise MigratorError(f"pg_dump of the scratch replay failed: {reason}; nothing was written")
    return done.stdout
