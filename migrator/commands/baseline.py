"""`migrate baseline`: adopt a database whose schemas were built outside the tool.

The proposal (checks.baseline) says which revision each service's live schema stands at;
recording it writes what a run of those revisions would have left, and runs none of them: the
version table's heads, and a history row (direction `baseline`) for every revision it marks
applied, with the checksum of its file, who adopted it and why. From then on `up`, `validate`,
`drift` and `status` treat the database like any other. The environment's policy decides as for
a plan: production records only the proposal approved by its hash, and every environment but a
developer's own database records a reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from migrator import urls
from migrator.checks import baseline as adoption
from migrator.commands.writing import rules
from migrator.context import Context
from migrator.database import database_heads
from migrator.errors import MigratorError, UsageError
from migrator.ops import policy
from migrator.run import history, session
from migrator.run import lock as locking


@dataclass(frozen=True)
class Recorded:
    """What was written: the revisions marked applied, the version table's heads, and the
    note every history row carries (who, why, the approval)."""

    revisions: tuple[str, ...]
    heads: tuple[str, ...]
    note: str


def refuse_without_reason(ctx: Context, reason: str | None) -> str | None:
    """The reason to record, refused when missing where the policy keeps its database (every
    environment whose database may not be dropped and rebuilt at will: staging, production);
    asked before anything is read, as bad input is."""
    chosen = rules(ctx)
    reason = (reason or "").strip() or None
    if reason is None and not chosen.recreate:
        raise UsageError(
            f"baseline in {chosen.name} records why the database is adopted: pass --reason "
            "TEXT (the ticket, the migration from the old tooling)"
        )
    return reason


def propose(ctx: Context, service: str | None = None) -> adoption.Proposal:
    """Which revision each service's live schema stands at; only reads the database."""
    return adoption.propose(ctx, service)


def record(
    ctx: Context,
    proposal: adoption.Proposal,
    confirmed: Callable[[str], bool],
    *,
    reason: str | None = None,
    approve: str | None = None,
    command_line: str = "migrate baseline",
) -> Recorded:
    """Record the proposal, once the policy's approval fits it and `confirmed` says yes,
    under the migration lock; refuses if the version table moved since the proposal."""
    chosen = rules(ctx)
    plan = proposal.plan
    who = history.identity(chosen.name)
    approval = policy.approval_note(chosen, plan, approve, command_line)
    why = f": {reason}" if reason else ""
    note = "; ".join(filter(None, [f"adopted by {who.os_user}@{who.host}{why}", approval]))
    where = urls.redacted(ctx.database_url)
    if not confirmed(f"Record {plan.summary()} in {where}?"):
        raise UsageError("baseline cancelled; nothing was recorded")
    settings = ctx.settings
    with (
        ctx.connect() as connection,
        locking.migration_lock(
            connection, settings.tool_schema, settings.engine.lock_wait_ms, ctx.events
        ),
    ):
        session.prepare(connection, settings, ctx.events)
        now = tuple(sorted(database_heads(connection, settings)))
        if now != plan.database_heads:
            raise MigratorError(
                "another run changed the version table since the proposal; nothing was "
                "recorded. Check `migrate status`, then run `migrate baseline` again"
            )
        moved = sorted(set(now) - set(proposal.heads)), sorted(set(proposal.heads) - set(now))
        history.record_baseline(
            connection.exec_driver_sql,
            settings.tool_schema,
            moved,
            _rows(proposal, note, datetime.now(UTC)),
            who,
        )
        connection.commit()
    return Recorded(plan.revisions, proposal.heads, note)


def _rows(proposal: adoption.Proposal, note: str, when: datetime) -> list[history.Attempt]:
    run_id = uuid.uuid4()
    return [
        history.Attempt(
            run_id=run_id,
            revision=item.id,
            service=item.revision.service.name,
            direction="baseline",
            started_at=when,
            finished_at=when,
            outcome="success",
            checksum=item.checksum,
            note=note,
        )
        for item in proposal.plan.items
    ]
