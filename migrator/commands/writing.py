"""The commands that change a database: up, down, repair, restore, backup, dev reset.

Each reads where the database stands, builds the plan (the model's), lets the environment's
policy refuse it, verify it or back it up, hands it to the runner, and returns what it did for
the command line (or a service calling `ensure_up_to_date`) to report. Nothing here prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import Connection

from migrator import database
from migrator.commands import reading
from migrator.context import Context
from migrator.errors import CheckFailed, MigratorError, UsageError
from migrator.events import Event, SeedsSkipped, StepFinished, log_event
from migrator.model import plan as planning
from migrator.model.plan import Plan
from migrator.ops import backup, devdb, policy, seeds
from migrator.run import apply, history, session, validation
from migrator.run import lock as locking

if TYPE_CHECKING:
    from migrator.checks import verify as verification


@dataclass
class Outcome:
    """What a writing command did: on the target only (a verification's scratch copy counts
    apart)."""

    plan: Plan
    done: list[str] = field(default_factory=list)
    backup: backup.Backup | None = None
    verification: verification.Verification | None = None
    seeded: list[Path] = field(default_factory=list)


def rules(ctx: Context) -> policy.Policy:
    return policy.for_settings(ctx.settings)


def upgrade_plan(
    ctx: Context,
    *,
    service: str | None = None,
    version: str | None = None,
    phase: str | None = None,
) -> Plan:
    """What `up` with these options would apply, from where the database stands now."""
    targets = planning.upgrade_targets(ctx.graph, service, version)
    recorded = reading.recorded_repeatables(ctx)
    return planning.upgrade(ctx.graph, ctx.heads(), targets, phase, recorded)


def up(
    ctx: Context,
    *,
    service: str | None = None,
    version: str | None = None,
    phase: str | None = None,
    approve: str | None = None,
    command_line: str = "migrate up",
    outside_window: str | None = None,
    check_data: bool = True,
) -> Outcome:
    """Apply what is pending up to the targets, as the environment's policy allows;
    `outside_window` is the reason to run now what must wait for a maintenance window.
    Stops first, having changed nothing, when existing rows would violate a constraint the
    plan adds (unless `check_data` is False), or when a service has parallel heads."""
    ctx.graph.refuse_parallel_heads()
    targets = planning.upgrade_targets(ctx.graph, service, version)
    recorded = reading.recorded_repeatables(ctx)
    plan = planning.upgrade(ctx.graph, ctx.heads(), targets, phase, recorded)
    if plan and check_data:
        from migrator.checks import prechecks

        prechecks.refuse_violations(ctx, plan)

    def replan(heads: tuple[str, ...]) -> Plan:
        return planning.upgrade(ctx.graph, heads, targets, phase, recorded)

    return run_plan(
        ctx,
        plan,
        approve=approve,
        command_line=command_line,
        replan=replan,
        outside_window=outside_window,
    )


def rollback_plan(
    ctx: Context,
    *,
    service: str | None = None,
    version: str | None = None,
    cascade: bool = False,
) -> Plan:
    """What `down` would roll back; refuses, listing them, when applied revisions depend on
    it and `cascade` is not given. While a service has parallel heads, `down` only rolls back
    a revision of one of them: how a database that applied both gets ready for `migrate rebase`."""
    with ctx.connect() as connection:
        heads = database.database_heads(connection, ctx.settings)
        recorded = history.latest_success_by_revision(connection, ctx.settings.tool_schema)
    order = {rev: row.id for rev, row in history.recorded_as_applied(recorded).items()}
    plan = planning.rollback(
        ctx.graph, heads, service=service, version=version, applied_order=order
    )
    lines = [line for found in ctx.graph.parallel_heads() for line in found.lines.values()]
    if not any(plan.revisions[-1] in line for line in lines):
        ctx.graph.refuse_parallel_heads()
    dependents = plan.items[:-1]
    if dependents and not cascade:
        raise CheckFailed(
            f"{len(dependents)} applied revision(s) depend on {plan.revisions[-1]}; roll them "
            "back first, or re-run with --cascade to roll back all of them",
            [f"{i.id} ({i.revision.service.name}) {i.revision.location}" for i in dependents],
        )
    return plan


def write_sql(ctx: Context, plan: Plan, output: TextIO) -> None:
    """`--sql`: the plan's statements as SQL for psql, version table included."""
    if plan:
        apply.render_sql(ctx, plan, output)


def _guard(
    ctx: Context,
    rules: policy.Policy,
    outcome: Outcome,
    replan: Callable[[tuple[str, ...]], Plan] | None,
) -> Callable[[Connection], Plan]:
    """What must happen once the migration lock is held: if another run moved the database
    while this one waited, an approved plan or a rollback is refused, and an upgrade is planned
    again from where the database now stands; then the backup the policy wants."""

    def before(connection: Connection) -> Plan:
        plan = outcome.plan
        heads = tuple(sorted(database.database_heads(connection, ctx.settings)))
        if heads != plan.database_heads:
            if rules.approval:
                raise policy.ApprovalRequired(
                    f"the database moved after plan {plan.hash} was approved (its heads are "
                    f"now {', '.join(heads) or 'none'}); review `migrate plan` again"
                )
            if replan is None:
                raise MigratorError(
                    "another run changed the database while this one waited for the migration "
                    "lock; nothing was changed. Check `migrate status` and run it again"
                )
            plan = outcome.plan = replan(heads)
        if plan and policy.wants_backup(rules, plan):
            label = f"before-{plan.direction}-{len(plan.items)}-revisions-{plan.hash}"
            outcome.backup = backup.create(ctx.settings, ctx.url, label)
        return plan

    return before


def run_plan(
    ctx: Context,
    plan: Plan,
    *,
    approve: str | None = None,
    command_line: str = "migrate up",
    replan: Callable[[tuple[str, ...]], Plan] | None = None,
    outside_window: str | None = None,
) -> Outcome:
    """Apply or roll back `plan` as the environment's policy allows: approval, verification
    on a scratch copy, a backup under the lock; then seeds after an upgrade. `replan` plans an
    upgrade again when another run moved the database meanwhile."""
    chosen = rules(ctx)
    outcome = Outcome(plan)
    notes = [policy.approval_note(chosen, plan, approve, command_line)]
    if plan.direction == "upgrade":
        notes.append(window_note(ctx, chosen, plan, outside_window))
    note = "; ".join(filter(None, notes)) or None
    if policy.wants_backup(chosen, plan):
        backup.prepare_folder(ctx.settings)  # refused now, not after the verification
    if plan and plan.direction == "upgrade" and chosen.verify:
        from migrator.checks import verify as verification  # staging only: scratch copies

        outcome.verification = verification.verify(ctx, plan)
        if outcome.verification.differences:
            raise verification.VerificationFailed(
                f"the rollback of plan {plan.hash} does not restore the schema; nothing was "
                "applied. Fix the DOWNGRADE of the revisions named below",
                outcome.verification.differences,
            )
    # An empty upgrade goes through the lock too: it checks the files against the history,
    # and waits for a run under way instead of answering "nothing to do" in its middle.
    if plan or replan is not None:
        outcome.done = apply.apply_plan(
            ctx, plan, before=_guard(ctx, chosen, outcome, replan), note=note
        )
    if plan.direction == "upgrade":
        outcome.seeded = load_seeds(ctx, chosen)
    return outcome


def window_note(ctx: Context, rules: policy.Policy, plan: Plan, override: str | None) -> str | None:
    """Refuse an upgrade that blocks a large table outside the environment's maintenance
    windows, or while the database is busy, unless `override` says why it cannot wait; the
    note recording who overrode and why otherwise."""
    if not plan or not rules.gates_impact:
        return None
    from migrator.checks import health, impact  # only environments with windows measure plans

    needs = policy.needing_window(rules, impact.assess(ctx, plan))
    load = None
    if needs and (rules.busy_sessions is not None or rules.busy_tps is not None):
        with ctx.connect() as connection:
            load = health.load(connection)
    return policy.window_note(rules, needs, datetime.now(UTC), load, override)


def load_seeds(ctx: Context, rules: policy.Policy) -> list[Path]:
    """The policy's seeds, for every service whose branch is at head, and so are the branches
    of the services it depends on (a seed may refer to their seeds' rows: crm's customers to
    auth's users; `up --service crm` leaves auth's later revisions, and so its seeds, out).
    The services left out are told as an event, to the terminal or to a service's log."""
    if not rules.seeds or not seeds.seed_files(ctx.settings.project_root, rules.seeds):
        return []
    graph = ctx.graph
    with ctx.connect() as connection:
        session.configure(connection, ctx.settings)
        rows = graph.status(database.database_heads(connection, ctx.settings))
        at_head = {row.service.name for row in rows if row.head and not row.pending}
        ready = {row.service.name for row in rows if graph.services_needed(row.service) <= at_head}
        seeding = seeds.load(connection, ctx.settings.project_root, rules.seeds, ready)
    if seeding.skipped:
        ctx.events(SeedsSkipped(rules.seeds, tuple(seeding.skipped)))
    return seeding.ran


def repair(ctx: Context, version: str) -> tuple[str, history.Identity]:
    """Accept the file's current checksum of an applied revision, recording who did it;
    under the migration lock, like every write."""
    ctx.graph.refuse_parallel_heads()
    revision = ctx.graph[version].id
    who = history.identity(ctx.settings.environment)
    settings = ctx.settings
    with (
        ctx.connect() as connection,
        locking.migration_lock(
            connection, settings.tool_schema, settings.engine.lock_wait_ms, ctx.events
        ),
    ):
        history.ensure_tables(connection, settings.tool_schema)
        accepted = validation.repair(connection, settings, ctx.graph, revision, who)
    return accepted, who


def backup_now(ctx: Context) -> backup.Backup:
    return backup.create(ctx.settings, ctx.url, "manual")


def restore_hash(ctx: Context, file: Path) -> str:
    """What a production restore is approved by: the backup's bytes and the database's heads,
    so that another file, or a database that moved, needs a new approval."""
    if not file.is_file():
        raise UsageError(f"no backup at {file}; `migrate backup list` shows the backups")
    digest = hashlib.sha256(b"restore\n")
    with file.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(sorted(ctx.heads())).encode())
    return digest.hexdigest()[:12]


def restore(ctx: Context, file: Path, *, approve: str | None = None) -> None:
    """Replace the services' schemas with a backup's, in one transaction, under the migration
    lock; in an environment that approves plans, only the restore approved by its hash. The
    audit history keeps every row and gains the restore's."""
    chosen = rules(ctx)
    note = f"restored {file.name}"
    if chosen.approval:
        expected = restore_hash(ctx, file)
        command = f"migrate restore {file} --env {chosen.name} --approve {expected}"
        if approve is None:
            raise policy.ApprovalRequired(
                f"{chosen.name} restores only an approved backup; check {file.name} is the one, "
                f"then run `{command}`"
            )
        if approve != expected:
            raise policy.ApprovalRequired(
                f"the approved restore {approve} is not this one ({expected}): another file, or "
                "the database moved since; check again"
            )
        who = history.identity(chosen.name)
        note = f"restored {file.name}, approved {expected} by {who.os_user}@{who.host}"
    settings = ctx.settings
    with (
        ctx.connect() as connection,
        locking.migration_lock(
            connection, settings.tool_schema, settings.engine.lock_wait_ms, ctx.events
        ),
    ):
        backup.restore(settings, ctx.url, file, note)


def dev_reset(ctx: Context, confirmed: Callable[[str], bool]) -> devdb.Reset:
    """Drop and recreate the development database at head with its seeds, cloned from a
    cached template when no revision or seed file changed since the template was made. The
    embedded server's database is the tool's own; any other is dropped only once `confirmed`
    says yes to a question naming its host and database."""
    ctx.graph.refuse_parallel_heads()
    chosen = rules(ctx)
    if not chosen.recreate:
        raise MigratorError(
            f"dev reset is not allowed in {chosen.name}: it drops the database. Only "
            "environments with recreate = true (development by default) allow it"
        )
    if not ctx.settings.uses_embedded_server:
        where = f"database {ctx.url.database} on {ctx.url.host or 'the local socket'}"
        if not confirmed(f"Drop and recreate {where}? Every row in it is lost"):
            raise UsageError(f"dev reset cancelled; {where} was not touched")
    template = devdb.template_name(ctx.settings, ctx.url, chosen.seeds)
    if devdb.recreate(ctx.url, template):
        return devdb.Reset(str(ctx.url.database), template, from_template=True, applied=0)
    outcome = up(ctx)
    devdb.keep_as_template(ctx.url, template)
    database = str(ctx.url.database)
    return devdb.Reset(database, template, from_template=False, applied=len(outcome.done))


def ensure_up_to_date(
    service: str, database_url: str | None = None, project: Path | None = None
) -> list[str]:
    """What a service calls at start-up in development: returns at once when its branch (and
    what it depends on) has nothing pending, applies what is pending otherwise. Many processes
    may call it at once: the migration lock lets one apply, the others then find nothing to do.
    Returns the revisions this call applied."""
    applied: list[str] = []

    def collect(event: Event) -> None:
        if isinstance(event, StepFinished):
            applied.append(event.revision)
        log_event(event)

    ctx = Context.load(project=project, database_url=database_url, events=collect)
    plan = upgrade_plan(ctx, service=service)
    if not plan:
        return []
    chosen = rules(ctx)
    if not chosen.auto_apply:
        raise MigratorError(
            f"{len(plan.items)} revision(s) of {service} are pending, and {chosen.name} does "
            "not apply migrations on service start; run `migrate up` as the policy requires"
        )
    up(ctx, service=service)
    return applied


def templates(ctx: Context) -> list[str]:
    """The template databases `dev reset` keeps on the server, newest first."""
    return devdb.listed_templates(ctx.url)


def drop_templates(ctx: Context) -> list[str]:
    """Remove the template databases `dev reset` keeps on the server."""
    return devdb.drop_templates(ctx.url)


def backups(ctx: Context) -> list[backup.Backup]:
    """The backups in the backup folder, newest first."""
    return backup.listed(ctx.settings)
