"""What each writing command does for the user, one function per command.

A command reads where the database stands, builds the plan, lets the environment's policy
refuse it, back it up or verify it, hands it to the runner, and loads the environment's seeds.
The command line and the Python API (`ensure_up_to_date`) call these; neither prints here.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from migrator import alembic_env
from migrator.checks import verify
from migrator.config import Settings, alembic_config, load_settings, resolve_database_url
from migrator.database import connect, database_heads
from migrator.errors import MigratorError, UsageError
from migrator.events import Event, EventSink, StepFinished, log_event
from migrator.model import mirror, services
from migrator.model import plan as planning
from migrator.model.graph import RevisionGraph
from migrator.ops import policy, seeds
from migrator.ops.backup import Backup
from migrator.run import apply as runner
from migrator.run import autogenerate as authoring


@dataclass
class Outcome:
    """What a writing command did, for the caller to report."""

    plan: planning.Plan
    backup: Backup | None = None
    verification: verify.Verification | None = None
    seeded: list[Path] = field(default_factory=list)


def named_revision(graph: RevisionGraph, version: str, service: str | None) -> str:
    """The revision `--version` names, refusing one that `--service` contradicts."""
    revision = graph[version]
    if service is not None and revision.service != services.resolve(service):
        raise UsageError(f"revision {version} belongs to {revision.service.name}, not {service}")
    return revision.id


def upgrade_targets(graph: RevisionGraph, service: str | None, version: str | None) -> list[str]:
    """The revisions `up` aims at: one revision, one service's head, or every head."""
    if version is not None:
        return [named_revision(graph, version, service)]
    if service is not None:
        chosen = services.resolve(service)
        branch = graph.branch(chosen)
        if not branch:
            raise UsageError(f"service {chosen.name} has no revisions yet; nothing to apply")
        return [branch[-1].id]
    return sorted(graph.heads_of(set(graph.revisions)))


def current_plan(
    settings: Settings,
    url: URL,
    graph: RevisionGraph,
    targets: list[str],
    phase: str | None = None,
) -> planning.Plan:
    with connect(url) as connection:
        heads = database_heads(connection, settings)
    return planning.build(
        graph, heads, "upgrade", graph.upgrade_plan(graph.applied(heads), targets, phase)
    )


def _guard(
    settings: Settings,
    url: URL,
    graph: RevisionGraph,
    plan: planning.Plan,
    rules: policy.Policy,
    outcome: Outcome,
) -> Callable[[Connection], None]:
    """What must happen once the migration lock is held: the plan must still be the one
    approved, and a rollback plan still the one computed (nobody moved the database while this
    run waited for the lock); then the backup the policy wants. An upgrade without approval
    needs no such check: Alembic plans it again from the version table under the lock."""

    def before(connection: Connection) -> None:
        heads = tuple(sorted(database_heads(connection, settings)))
        moved = heads != plan.database_heads
        if moved and rules.approval:
            raise policy.ApprovalRequired(
                f"the database moved after plan {plan.hash} was approved (its heads are now "
                f"{', '.join(heads) or 'none'}); review `migrate plan` again"
            )
        if moved and plan.direction == "downgrade":
            raise MigratorError(
                "another run changed the database while this one waited for the migration "
                "lock; nothing was rolled back. Check `migrate status` and run `down` again"
            )
        outcome.backup = policy.backup_before(rules, settings, url, plan)

    return before


def upgrade(
    settings: Settings,
    url: URL,
    graph: RevisionGraph,
    events: EventSink,
    *,
    targets: list[str],
    phase: str | None = None,
    approve: str | None = None,
    command_line: str = "migrate up --approve HASH",
) -> Outcome:
    """Apply the pending revisions up to `targets` as the environment's policy allows."""
    rules = policy.for_settings(settings)
    plan = current_plan(settings, url, graph, targets, phase)
    outcome = Outcome(plan)
    note = policy.approval_note(rules, plan, approve, command_line)
    if plan and rules.verify:
        outcome.verification = verify.verify(settings, url, graph, plan, events)
        if outcome.verification.differences:
            raise verify.VerificationFailed(
                f"the rollback of plan {plan.hash} does not restore the schema; nothing was "
                "applied. Fix the DOWNGRADE of the revisions named below",
                outcome.verification.differences,
            )
    if plan:
        runner.apply_plan(
            settings,
            url,
            graph,
            plan,
            events,
            before=_guard(settings, url, graph, plan, rules, outcome),
            note=note,
            one_by_one=note is not None,
        )
    outcome.seeded = load_seeds(settings, url, graph, rules)
    return outcome


def downgrade(
    settings: Settings,
    url: URL,
    graph: RevisionGraph,
    events: EventSink,
    *,
    revisions: list[str],
    approve: str | None = None,
    command_line: str = "migrate down --approve HASH",
) -> Outcome:
    """Roll back `revisions` (newest first) as the environment's policy allows."""
    rules = policy.for_settings(settings)
    with connect(url) as connection:
        heads = database_heads(connection, settings)
    plan = planning.build(graph, heads, "downgrade", revisions)
    outcome = Outcome(plan)
    note = policy.approval_note(rules, plan, approve, command_line)
    runner.apply_plan(
        settings,
        url,
        graph,
        plan,
        events,
        before=_guard(settings, url, graph, plan, rules, outcome),
        note=note,
    )
    return outcome


def load_seeds(
    settings: Settings, url: URL, graph: RevisionGraph, rules: policy.Policy
) -> list[Path]:
    """The policy's seeds, for every service whose branch is at head, and so are the branches
    of the services it depends on (a seed may refer to their seeds' rows: crm's customers to
    auth's users; `up --service crm` leaves auth's later revisions, and so its seeds, out)."""
    if not rules.seeds or not seeds.seed_files(settings.project_root, rules.seeds):
        return []
    with connect(url) as connection:
        rows = graph.status(database_heads(connection, settings))
        at_head = {row.service.name for row in rows if row.head and not row.pending}
        ready = {
            row.service.name for row in rows if _services_needed(graph, row.service) <= at_head
        }
        return seeds.load(connection, settings.project_root, rules.seeds, ready)


def _services_needed(graph: RevisionGraph, service: services.Service) -> set[str]:
    """The services whose revisions the service's branch needs, itself included."""
    branch = [revision.id for revision in graph.branch(service)]
    return {service.name} | {graph[rev].service.name for rev in graph.ancestors(branch)}


def refuse_unless_allowed(rules: policy.Policy, action: str) -> None:
    if not rules.recreate:
        raise MigratorError(
            f"{action} is not allowed in {rules.name}: it drops the database. Only environments "
            "with recreate = true (development by default) allow it"
        )


def ensure_up_to_date(
    service: str, database_url: str | None = None, project: Path | None = None
) -> list[str]:
    """What a service calls at start-up in development: returns at once when its branch (and
    what it depends on) has nothing pending, applies what is pending otherwise. Many processes
    may call it at once: the migration lock lets one apply, the others then find nothing to do.
    Returns the revisions this call applied."""
    settings = load_settings(project=project, database_url=database_url)
    graph = RevisionGraph.load(alembic_config(settings))
    url = resolve_database_url(settings)
    targets = upgrade_targets(graph, service, None)
    plan = current_plan(settings, url, graph, targets)
    if not plan:
        return []
    rules = policy.for_settings(settings)
    if not rules.auto_apply:
        raise MigratorError(
            f"{len(plan.revisions)} revision(s) of {service} are pending, and {rules.name} does "
            "not apply migrations on service start; run `migrate up` as the policy requires"
        )
    applied: list[str] = []

    def collect(event: Event) -> None:
        if isinstance(event, StepFinished):
            applied.append(event.revision)
        log_event(event)

    upgrade(settings, url, graph, collect, targets=targets)
    return applied


def new_revision(
    settings: Settings,
    graph: RevisionGraph,
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
    chosen = services.resolve(service)
    needs = sorted({named_revision(graph, rev, None) for rev in depends_on})
    if any(graph.revisions[rev].service == chosen for rev in needs):
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
    rev_id = authoring.next_revision_id(graph.revisions, datetime.date.today())
    config = alembic_config(settings)
    config.attributes[alembic_env.SAY] = say
    if autogenerate:
        with connect(resolve_database_url(settings)) as connection:
            pending = graph.status(database_heads(connection, settings))
            behind = sum(len(row.pending) for row in pending)
            if behind:
                raise MigratorError(
                    f"the database has {behind} pending revision(s); autogenerate compares the "
                    "models with a database at head, so run `migrate up` first"
                )
            config.attributes[alembic_env.CONNECTION] = connection
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
            **authoring.template_args(settings, chosen, message, needs),
        )
        assert script is not None
        path = Path(script.path)
    if needs:
        mirror.write(RevisionGraph.load(config), settings.dependencies_file)
    return path
