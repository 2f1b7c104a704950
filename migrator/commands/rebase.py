"""`migrate rebase`: put one of a service's parallel heads after the other.

Which one moves is decided by what the target database has done: a revision it applied (by its
version table or its audit history) keeps its id and place, since the database records it by
that id; the other is moved. When neither is applied, the newer id moves, as the work merged
last: ids order by date and number, which survive a checkout, where file times do not.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from migrator import database, urls
from migrator.commands import authoring
from migrator.context import Context
from migrator.errors import MigratorError, UsageError
from migrator.model import rebase as rebasing
from migrator.model import services
from migrator.model.plan import named_revision
from migrator.run import history


@dataclass(frozen=True)
class Rebased:
    """What moved: each old id with its new one, after `onto`, and the files written."""

    service: str
    onto: str
    renamed: dict[str, str]
    written: list[Path]


def rebase(
    ctx: Context, service: str, confirmed: Callable[[str], bool], onto: str | None = None
) -> Rebased:
    """Move the head of `service` that the target database has not applied (or, with `onto`,
    the head other than that one) after the other head, once `confirmed` agrees; rewrite the
    YAML mirror."""
    graph = ctx.graph
    chosen = services.resolve(service)
    parallel = next((found for found in graph.parallel_heads() if found.service == chosen), None)
    if parallel is None:
        raise UsageError(f"{chosen.name} has a single head; there is nothing to rebase")
    heads = [revision.id for revision in parallel.heads]
    applied = _applied(ctx)
    applied_heads = [head for head in heads if parallel.lines[head] & applied]
    where = urls.redacted(ctx.database_url)
    if onto is not None:
        stays = named_revision(graph, onto, chosen.name)
        if stays not in heads:
            raise UsageError(
                f"--onto {onto} is not a head of {chosen.name}; give one of {', '.join(heads)}"
            )
    elif len(applied_heads) > 1:
        newer = graph.in_order(parallel.lines[max(applied_heads)])[0]
        raise MigratorError(
            f"{' and '.join(applied_heads)} of {chosen.name} are applied on {where}; roll one "
            f"back there (`migrate down --version {newer}`), then run migrate rebase "
            f"--service {chosen.name} again"
        )
    else:
        stays = applied_heads[0] if applied_heads else heads[0]
    moving = max(head for head in heads if head != stays)
    if moving in applied_heads:
        raise UsageError(
            f"--onto {stays} would move {moving}, which is applied on {where}; leave out --onto "
            f"to move {stays} instead"
        )
    move = rebasing.plan(graph, stays, parallel.lines[moving], datetime.date.today())
    moves = ", ".join(f"{old} as {new}" for old, new in move.renamed.items())
    if not confirmed(f"Move {moves} onto {stays}?"):
        raise UsageError("rebase cancelled; nothing was changed")
    written = []
    for rewrite in rebasing.rewrites(graph, move):
        rewrite.new_path.write_bytes(rewrite.content)
        if rewrite.new_path != rewrite.path:
            rewrite.path.unlink()
        written.append(rewrite.new_path)
    authoring.deps_sync(ctx)
    return Rebased(chosen.name, stays, move.renamed, written)


def _applied(ctx: Context) -> set[str]:
    """Every revision the target database has applied, by its version table or by its
    audit history (a revision rolled back since counts no more)."""
    with ctx.connect() as connection:
        heads = database.database_heads(connection, ctx.settings)
        recorded = history.latest_success_by_revision(connection, ctx.settings.tool_schema)
    return ctx.graph.applied(heads) | set(history.recorded_as_applied(recorded))
