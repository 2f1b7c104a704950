"""The plan: exactly which revisions a run applies or rolls back, and the steps each runs.

This is the one place plans are built. `plan`, `up --sql`, `down --sql`, `export-sql`, `verify`,
the approval hash and the runner all consume a Plan, so what a reviewer reads, what production
approves and what runs are the same statements in the same order.

Production applies nothing that was not approved, so the approval names the plan by a short
hash over everything that decides what runs: the database's heads, the direction, the revisions
in order and the checksum of each one's steps in that direction (DOWNGRADE for a rollback). If
a file or the database moves after the plan was read, its hash changes and the approval no
longer fits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from migrator.errors import MigratorError, UsageError
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.model.repeatable import Recorded, Repeatable
from migrator.model.revision import Revision, Step

DIRECTIONS = ("upgrade", "downgrade")
PHASES = ("expand", "contract")


@dataclass(frozen=True)
class PlannedRevision:
    """One revision of a plan, with the steps it runs in the plan's direction."""

    revision: Revision
    direction: str
    steps: tuple[Step, ...]
    checksum: str

    @property
    def id(self) -> str:
        return self.revision.id


@dataclass(frozen=True)
class Plan:
    direction: str  # upgrade | downgrade
    database_heads: tuple[str, ...]
    items: tuple[PlannedRevision, ...]
    # Run after the revisions, each in its own transaction (an upgrade's only).
    repeatables: tuple[Repeatable, ...] = ()

    @property
    def revisions(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    @property
    def hash(self) -> str:
        document = json.dumps(
            [
                self.direction,
                sorted(self.database_heads),
                [[item.id, item.checksum] for item in self.items],
                *([[r.key, r.checksum] for r in self.repeatables] if self.repeatables else []),
            ]
        )
        return hashlib.sha256(document.encode()).hexdigest()[:12]

    def __bool__(self) -> bool:
        return bool(self.items or self.repeatables)

    def summary(self) -> str:
        verb = {"upgrade": "apply", "baseline": "adopt"}.get(self.direction, "roll back")
        said = f"{verb} {len(self.items)} revision(s): {', '.join(self.revisions)}"
        if self.repeatables:
            keys = ", ".join(r.key for r in self.repeatables)
            said += f"; then {len(self.repeatables)} repeatable(s): {keys}"
        return said


def build(
    graph: RevisionGraph,
    database_heads: Iterable[str],
    direction: str,
    revisions: Iterable[str],
    repeatables: tuple[Repeatable, ...] = (),
) -> Plan:
    """The plan of `revisions`, in the order given, then `repeatables`; refuses a revision
    whose steps in this direction cannot run (a body that does not parse, BEGIN/COMMIT in a
    body), naming the file and line, before anything runs."""
    if direction not in DIRECTIONS:
        raise UsageError(f"direction {direction!r}: use upgrade or downgrade")
    items = []
    for rev in revisions:
        revision = graph[rev]
        revision.refuse_unless_runnable(direction)
        steps, checksum = revision.steps(direction), revision.checksum(direction)
        items.append(PlannedRevision(revision, direction, steps, checksum))
    heads = tuple(sorted(graph.current_heads(database_heads)))
    return Plan(direction, heads, tuple(items), repeatables)


def baseline(graph: RevisionGraph, database_heads: Iterable[str], revisions: Iterable[str]) -> Plan:
    """What `baseline` marks applied without running it: the revisions with the checksums of
    their upgrades (what the history records), under a direction of its own, so that the
    approval of a baseline never fits an `up` of the same revisions."""
    return replace(build(graph, database_heads, "upgrade", revisions), direction="baseline")


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


def upgrade(
    graph: RevisionGraph,
    database_heads: Iterable[str],
    targets: Iterable[str],
    phase: str | None = None,
    repeatables: Recorded | None = None,
) -> Plan:
    """What `up` applies to reach `targets` from the database's heads. With `phase="expand"`,
    each branch stops before its first contract revision (and so does whatever needs one).
    With `repeatables`, the plan ends with the pending repeatables of the targeted services
    that are at head once its revisions ran (a repeatable may use any column of its
    service's latest revision)."""
    if phase is not None and phase not in PHASES:
        raise UsageError(f"--phase {phase!r}: use expand or contract")
    heads, targets = tuple(database_heads), tuple(targets)
    pending = graph.upgrade_revisions(graph.applied(heads), targets, phase)
    if repeatables is None:
        return build(graph, heads, "upgrade", pending)
    after = graph.applied(heads) | set(pending)
    scope = {graph[rev].service for rev in graph.ancestors(targets)}
    at_head = [s for s in scope if graph.branch(s) and graph.branch(s)[-1].id in after]
    return build(graph, heads, "upgrade", pending, tuple(repeatables.pending(at_head)))


def rollback(
    graph: RevisionGraph,
    database_heads: Iterable[str],
    *,
    service: str | None = None,
    version: str | None = None,
    applied_order: Mapping[str, int] | None = None,
) -> Plan:
    """What `down` rolls back: the named revision, the newest of a service, or the revision
    applied last (by the history's order); with every applied revision that needs it, newest
    first."""
    heads = tuple(database_heads)
    applied = graph.applied(heads)
    if version is not None:
        revision = named_revision(graph, version, service)
    else:
        chosen = services.resolve(service) if service is not None else None
        last = graph.last_applied(applied, chosen, applied_order)
        if last is None:
            where = f"of {chosen.name} " if chosen else ""
            raise MigratorError(f"no migration {where}is applied; nothing to roll back")
        revision = last
    return build(graph, heads, "downgrade", graph.rollback_revisions(revision, applied))


def reverse(graph: RevisionGraph, applied_plan: Plan, database_heads: Iterable[str]) -> Plan:
    """The rollback of an upgrade plan once it is applied (verification runs both)."""
    return build(graph, database_heads, "downgrade", reversed(applied_plan.revisions))
