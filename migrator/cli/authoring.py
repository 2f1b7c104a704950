"""new, export-sql, import-sql and deps on the command line. Each imports `commands.authoring`
(Alembic) when it runs, so that the commands registered beside them start without it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from migrator.cli import app, context
from migrator.cli.console import OneLineSummaries, out, reports_errors
from migrator.cli.options import AsJson, Target, flag, target_options
from migrator.errors import CheckFailed

deps_app = typer.Typer(
    help="Cross-service dependencies and their YAML mirror.",
    no_args_is_help=True,
    cls=OneLineSummaries,
)
app.add_typer(deps_app, name="deps")

Autogenerate = flag(
    "--autogenerate",
    "Compare the service's models with the migrated database and write the difference as SQL.",
)


@app.command("new")
@reports_errors
@target_options()
def new_command(
    service: Annotated[str, typer.Option("--service", "-s", help="The service it belongs to.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What the change does.")],
    autogenerate: Autogenerate = False,
    depends_on: Annotated[
        list[str] | None,
        typer.Option("--depends-on", help="A revision of another service it needs (repeatable)."),
    ] = None,
    *,
    target: Target,
) -> None:
    """Write the service's next revision in the house format: an empty template, or the SQL
    autogenerate finds between the models and the database."""
    from migrator.commands import authoring

    ctx = context(target)
    ctx.graph.refuse_parallel_heads()  # Alembic would not know which head to write on
    path = authoring.new_revision(
        ctx,
        out.print,
        service=service,
        message=message,
        autogenerate=autogenerate,
        depends_on=depends_on or [],
    )
    if path is not None:
        out.print(f"wrote {path.relative_to(ctx.settings.project_root)}")


@app.command("export-sql")
@reports_errors
@target_options(database=False)
def export_sql_command(
    folder: Annotated[Path, typer.Argument(help="The folder to write into (created).")],
    *,
    target: Target,
) -> None:
    """Write every revision as plain SQL (<service>/schema and <service>/rollback, BEGIN/COMMIT
    around transactional statements) and an ORDER file listing them in dependency order."""
    from migrator.commands import authoring

    written = authoring.export_sql(context(target), folder)
    out.print(
        f"wrote {len(written)} migration(s) to {folder}; apply them in order with "
        f'`while read f; do psql -v ON_ERROR_STOP=1 -f "{folder}/$f"; done < {folder}/ORDER`'
    )


@app.command("import-sql")
@reports_errors
@target_options(database=False)
def import_sql_command(
    source: Annotated[Path, typer.Argument(help="A plain .sql migration, or a folder of them.")],
    service: Annotated[str, typer.Option("--service", "-s", help="The service they belong to.")],
    *,
    target: Target,
) -> None:
    """Turn plain-SQL migrations ({id}_{service}_{description}.sql, header comments,
    BEGIN/COMMIT, rollback/ beside them) into revision files, keeping ids, dependencies and
    bodies."""
    from migrator.commands import authoring

    ctx = context(target)
    ctx.graph.refuse_parallel_heads()
    for path in authoring.import_sql(ctx, source, service):
        out.print(f"wrote {path.relative_to(ctx.settings.project_root)}")


@deps_app.command("check")
@reports_errors
@target_options(database=False)
def deps_check(json_output: AsJson = False, *, target: Target) -> None:
    """Fail when a revision file breaks the house rules (folder, name, header, unique id) or
    migration-dependencies.yml and the revisions' depends_on disagree."""
    from migrator.commands import authoring

    ctx = context(target)
    try:
        count = authoring.deps_check(ctx)
    except CheckFailed as failed:
        if json_output:
            out.print_json(json.dumps({"problems": failed.problems, "summary": str(failed)}))
        raise
    if json_output:
        out.print_json(json.dumps({"problems": [], "revisions": count}))
    else:
        out.print(f"{ctx.settings.dependencies_file.name} agrees with {count} revision(s)")


@deps_app.command("sync")
@reports_errors
@target_options(database=False)
def deps_sync(*, target: Target) -> None:
    """Rewrite migration-dependencies.yml from the revisions' depends_on."""
    from migrator.commands import authoring

    ctx = context(target)
    verb = "rewrote" if authoring.deps_sync(ctx) else "already in step:"
    out.print(f"{verb} {ctx.settings.dependencies_file.name}")
