"""Writing new revisions: the next id, the header, and autogenerate rendered as house SQL.

Engineers write a migration every week; the tool writes the boilerplate. `migrate new` and plain
`alembic revision --autogenerate --head crm@head` both end in the hook below, which turns what
Alembic detected for one service into the house format: the next `YYYYMMDD_NNN` id, the header
(author from git, today's date, dependencies), and UPGRADE/DOWNGRADE as SQL rendered by
Alembic's offline mode, made re-runnable (IF NOT EXISTS / IF EXISTS) through pglast's parse tree
rather than `op.*` calls, so reviewers read the exact statements.
"""

from __future__ import annotations

import datetime
import getpass
import io
import json
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pglast
from alembic.operations import MigrationScript, Operations, ops
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pglast import ast, enums
from pglast.stream import IndentedStream

from migrator.config import Settings
from migrator.errors import UsageError
from migrator.model import guards, services
from migrator.model import tables as models


def next_revision_id(existing: Iterable[str], today: datetime.date) -> str:
    """`YYYYMMDD_NNN`: today's date and the next number free among today's ids (of any
    service: ids are one namespace)."""
    prefix = f"{today:%Y%m%d}_"
    numbers = [
        int(rev[len(prefix) :])
        for rev in existing
        if rev.startswith(prefix) and rev[len(prefix) :].isdigit()
    ]
    number = max(numbers, default=0) + 1
    if number > 999:
        raise UsageError(f"999 revisions already carry the date {today:%Y-%m-%d}; try tomorrow")
    return f"{prefix}{number:03d}"


def author(project_root: Path) -> str:
    """`Name <email>` from git config, as the header's Author; the login name without git."""

    def git(key: str) -> str:
        try:
            result = subprocess.run(
                ["git", "config", key],
                cwd=project_root,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:
            return ""
        return result.stdout.strip()

    name, email = git("user.name"), git("user.email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or getpass.getuser()


def template_args(
    settings: Settings,
    service: services.Service,
    title: str,
    depends_on: Iterable[str],
    upgrade_sql: str | None = None,
    downgrade_sql: str | None = None,
) -> dict[str, Any]:
    return {
        "title": title,
        "service_display_name": service.display_name,
        "author": author(settings.project_root),
        "dependencies": json.dumps(sorted(depends_on)),
        "upgrade_sql": upgrade_sql,
        "downgrade_sql": downgrade_sql,
    }


def render_sql(operations: ops.OpContainer) -> str:
    """The operations as the SQL Alembic's offline mode writes for PostgreSQL, each statement
    made safe to run twice, formatted by pglast."""
    output = io.StringIO()
    context = MigrationContext.configure(
        dialect_name="postgresql",
        opts={"as_sql": True, "output_buffer": output, "literal_binds": True},
    )
    runner = Operations(context)
    for operation in _flatten(operations.ops):
        runner.invoke(operation)
    statements = []
    for raw in pglast.parse_sql(output.getvalue()):
        _make_rerunnable(raw.stmt)
        statements.append(IndentedStream(comma_at_eoln=True)(raw.stmt) + ";")
    return "\n\n".join(statements)


def _flatten(operations: Iterable[ops.MigrateOperation]) -> Iterable[ops.MigrateOperation]:
    for operation in operations:
        if isinstance(operation, ops.OpContainer):
            yield from _flatten(operation.ops)
        else:
            yield operation


def _make_rerunnable(node: ast.Node) -> None:
    """IF NOT EXISTS on what is created, IF EXISTS on what is dropped, where PostgreSQL has it."""
    if isinstance(node, ast.CreateStmt | ast.IndexStmt | ast.CreateSeqStmt):
        node.if_not_exists = True
    elif isinstance(node, ast.DropStmt):
        node.missing_ok = True
    elif isinstance(node, ast.AlterTableStmt):
        for command in node.cmds or ():
            if command.subtype in (
                enums.AlterTableType.AT_AddColumn,
                enums.AlterTableType.AT_DropColumn,
                enums.AlterTableType.AT_DropConstraint,
            ):
                command.missing_ok = True


def _service_of(script: MigrationScript, scripts: ScriptDirectory) -> services.Service:
    """The service a new revision belongs to: from `--head crm@head`, or the branch label and
    version folder of a service's first revision."""
    head = script.head or ""
    if "@" in head:
        return services.resolve(head.split("@", 1)[0])
    if script.version_path:
        found = services.service_of_versions_dir(Path(script.version_path) / "x.py")
        if found is not None:
            return found
    for label in script.branch_label or ():
        return services.resolve(label)
    raise UsageError(
        "say which service the revision is for: `--head <service>@head` (or `migrate new "
        "--service <service>`)"
    )


def revision_hook(settings: Settings, say: Callable[[str], None]) -> Callable[..., None]:
    """Alembic's process_revision_directives for autogenerate: house id, header and SQL; an
    empty diff writes nothing."""

    def process(context: MigrationContext, revision: Any, directives: list) -> None:
        script: MigrationScript = directives[0]
        scripts = ScriptDirectory.from_config(context.config)
        service = _service_of(script, scripts)
        if script.upgrade_ops is not None and script.upgrade_ops.is_empty():
            directives[:] = []
            say(f"{service.name}: the models and the database agree; no revision written")
            return
        existing = [rev.revision for rev in scripts.walk_revisions()]
        if not guards.is_house_id(script.rev_id):
            script.rev_id = next_revision_id(existing, datetime.date.today())
        title = script.message or "autogenerated change"
        script.message = f"{service.name} {title}"  # the file name's slug: {id}_{service}_{..}
        arguments = context.opts["template_args"]
        arguments.update(
            template_args(
                settings,
                service,
                title,
                script.depends_on or (),
                render_sql(script.upgrade_ops),
                render_sql(script.downgrade_ops),
            )
        )

    return process


def autogenerate_options(
    settings: Settings, head: str | None, say: Callable[[str], None]
) -> dict[str, Any]:
    """What env.py gives Alembic for autogenerate: the models, and one service's schema when
    the head names it (`crm@head`), else every service's schema."""
    schemas = (
        [services.resolve(head.split("@", 1)[0]).schema]
        if head and "@" in head
        else [service.schema for service in services.SERVICES]
    )
    return {
        "target_metadata": models.load(settings.project_root),
        "include_schemas": True,
        "include_name": models.include_names_in(schemas),
        "include_object": models.include_objects_in(schemas),
        "compare_type": True,
        "process_revision_directives": revision_hook(settings, say),
    }
