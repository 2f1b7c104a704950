"""The revision graph: every revision the model read, as one history across the services.

Alembic knows revisions, branches and `depends_on`; what it does not offer is the view people
ask for ("where is crm?", "what else goes if I roll this back?"). Alembic's version table also
keeps only the heads of what is applied and drops a dependency once a dependent covers it, so
"applied" is always computed here as the closure of the recorded heads.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import CheckFailed, MigratorError, UsageError
from migrator.model import cache, services
from migrator.model.revision import Revision
from migrator.model.services import Service


class GraphError(MigratorError):
    """The revision files do not form a valid history."""


class UnknownRevision(UsageError):
    """The user named a revision that no file defines."""


class InsideSquashedRange(GraphError):
    """The database stands between the first and the last revision a squash replaced: no
    file holds what it lacks of the range any more."""


@dataclass(frozen=True)
class ServiceStatus:
    """Where one service stands in a database."""

    service: Service
    current: str | None
    head: str | None
    pending: tuple[str, ...]
    heads: tuple[str, ...] = ()  # more than one while parallel work awaits `migrate rebase`


@dataclass(frozen=True)
class ParallelHeads:
    """A service whose branch ends in more than one revision: two people each added one on the
    same head. Alembic would apply them in either order, so every writing command refuses them
    until `migrate rebase` puts one after the other."""

    service: Service
    heads: tuple[Revision, ...]  # oldest id first
    fork: str | None  # the newest revision of the branch they all build on; None: its base
    lines: dict[str, frozenset[str]]  # each head's revisions since the fork

    def describe(self) -> str:
        listed = [f"{rev.id} ({rev.location})" for rev in self.heads]
        names = ", ".join(listed[:-1]) + " and " + listed[-1]
        every = "both" if len(self.heads) == 2 else "all"
        base = self.fork or "the branch's base"
        on_fork = (self.fork,) if self.fork else ()
        direct = all(rev.down_revisions == on_fork for rev in self.heads)
        where = f"{every} on {base}" if direct else f"{every} forked from {base}"
        return (
            f"{self.service.name} has {len(self.heads)} heads: {names}, {where}; "
            f"run migrate rebase --service {self.service.name}"
        )


class RevisionGraph:
    """All revisions of all services, with the questions the commands ask of them."""

    def __init__(self, revisions: Iterable[Revision]) -> None:
        self.revisions: dict[str, Revision] = {}
        for revision in revisions:
            other = self.revisions.get(revision.id)
            if other is not None:
                raise GraphError(
                    f"revision id {revision.id} is used by two files, {other.location} and "
                    f"{revision.location}; give one of them the next free id"
                )
            self.revisions[revision.id] = revision
        self._children: dict[str, set[str]] = {rev: set() for rev in self.revisions}
        for revision in self.revisions.values():
            for parent in revision.parents:
                if parent not in self.revisions:
                    field = "down_revision" if parent in revision.down_revisions else "depends_on"
                    raise GraphError(
                        f"{revision.location} names {parent} in its {field}, and no revision "
                        f"file defines it; fix {field}"
                    )
                self._children[parent].add(revision.id)
        self._order = self._topological_order()
        # Each id a squashed revision replaced (whose file is gone), and that revision.
        self.replaced: dict[str, str] = {
            old: revision.id
            for revision in self.revisions.values()
            for old in revision.replaces
            if old not in self.revisions
        }

    @classmethod
    def load(cls, project_root: Path) -> RevisionGraph:
        """Every revision file of the project, read by the revision model (through its
        cache, for files unchanged since they were last read)."""
        return cls(cache.read_all(project_root))

    def _topological_order(self) -> list[str]:
        """Every revision after its parents; among equals, by id, which is by date."""
        sorter = graphlib.TopologicalSorter({rev: r.parents for rev, r in self.revisions.items()})
        try:
            sorter.prepare()
        except graphlib.CycleError as error:
            cycle = " -> ".join(error.args[1])
            raise GraphError(f"the revisions depend on each other in a cycle: {cycle}") from error
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            order.extend(ready)
            sorter.done(*ready)
        return order

    def __getitem__(self, revision: str) -> Revision:
        try:
            return self.revisions[revision]
        except KeyError:
            raise UnknownRevision(
                f"no revision {revision!r} in the project; `migrate status` lists the heads"
            ) from None

    def in_order(self, revisions: Iterable[str]) -> list[str]:
        wanted = set(revisions)
        return [rev for rev in self._order if rev in wanted]

    def branch(self, service: Service) -> list[Revision]:
        """The service's revisions, oldest first."""
        return [
            self.revisions[rev] for rev in self._order if self.revisions[rev].service == service
        ]

    def services_needed(self, service: Service) -> set[str]:
        """The services whose revisions the service's whole branch needs, itself included."""
        branch = [revision.id for revision in self.branch(service)]
        return {service.name} | {self[rev].service.name for rev in self.ancestors(branch)}

    def branch_heads(self, service: Service) -> list[str]:
        """The service's revisions that no later revision of it names as down_revision: one,
        unless people added revisions on the same head in parallel."""
        branch = self.branch(service)
        below = {parent for rev in branch for parent in rev.down_revisions}
        return [rev.id for rev in branch if rev.id not in below]

    def line(self, revision: str) -> set[str]:
        """The revision and those before it on its branch (down_revision only)."""
        return self._closure([revision], lambda rev: self[rev].down_revisions)

    def parallel_heads(self) -> list[ParallelHeads]:
        """Every service whose branch has more than one head, with where the heads part."""
        found = []
        for service in services.SERVICES:
            heads = sorted(self.branch_heads(service))
            if len(heads) > 1:
                shared = set.intersection(*(self.line(head) for head in heads))
                fork = self.in_order(shared)[-1] if shared else None
                lines = {head: frozenset(self.line(head) - shared) for head in heads}
                found.append(ParallelHeads(service, tuple(self[h] for h in heads), fork, lines))
        return found

    def refuse_parallel_heads(self) -> None:
        """Raise, naming heads and files, while a service has more than one head: what would
        run, and in which order, is not decided yet."""
        parallel = [found.describe() for found in self.parallel_heads()]
        if len(parallel) == 1:
            raise CheckFailed(parallel[0], [])
        if parallel:
            raise CheckFailed(
                f"{len(parallel)} services have more than one head; run migrate rebase for each",
                parallel,
            )

    def children(self, revision: str) -> set[str]:
        """The revisions that name this one as down_revision or in depends_on."""
        return self._children[revision]

    def ancestors(self, revisions: Iterable[str]) -> set[str]:
        """The revisions and everything they need, through down_revision and depends_on."""
        return self._closure(revisions, lambda rev: self[rev].parents)

    def descendants(self, revisions: Iterable[str]) -> set[str]:
        """The revisions and everything that needs them."""
        return self._closure(revisions, lambda rev: self._children[rev])

    @staticmethod
    def _closure(start: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(start)
        while stack:
            rev = stack.pop()
            if rev not in seen:
                seen.add(rev)
                stack.extend(step(rev))
        return seen

    def current_heads(self, database_heads: Iterable[str]) -> tuple[str, ...]:
        """The heads as the files know them: the last id a squash replaced reads as the squashed
        revision, which holds all it did; an id inside a squashed range is refused, since
        what it lacks of the range is in no file any more."""
        current: list[str] = []
        for head in database_heads:
            squash = self.replaced.get(head)
            if squash is None:
                current.append(head)
                continue
            replaced = self.revisions[squash].replaces
            if head != replaced[-1]:
                raise InsideSquashedRange(
                    f"{self.revisions[squash].service.name} is at {head}, inside the range "
                    f"squashed into {squash} ({replaced[0]}..{replaced[-1]}); bring it to "
                    f"{replaced[-1]} with a release from before the squash, or rebuild it"
                )
            current.append(squash)
        return tuple(dict.fromkeys(current))

    def applied(self, database_heads: Iterable[str]) -> set[str]:
        """Everything applied in a database whose version table holds these heads."""
        heads = list(self.current_heads(database_heads))
        unknown = [rev for rev in heads if rev not in self.revisions]
        if unknown:
            raise GraphError(
                f"the database records revision(s) {', '.join(unknown)} that no file defines; "
                "restore the missing files (for example from git) before migrating"
            )
        return self.ancestors(heads)

    def upgrade_revisions(
        self, applied: set[str], targets: Iterable[str], phase: str | None = None
    ) -> list[str]:
        """The revisions `up` will apply to reach `targets`, in order. With `phase="expand"`,
        each branch stops before its first contract revision (and so does whatever needs one);
        with `phase="contract"` or none, everything pending up to the targets."""
        pending = self.ancestors(targets) - applied
        if phase == "expand":
            blocked = self.descendants(
                rev for rev in pending if self.revisions[rev].phase == "contract"
            )
            pending -= blocked
        return self.in_order(pending)

    def targets_of(self, plan: Iterable[str], applied: set[str]) -> list[str]:
        """The fewest Alembic targets that apply exactly `plan` (its heads)."""
        planned = set(plan)
        return sorted(self.heads_of(planned | applied) & planned)

    def status(self, database_heads: Iterable[str]) -> list[ServiceStatus]:
        applied = self.applied(database_heads)
        rows = []
        for service in services.SERVICES:
            branch = self.branch(service)
            done = [r.id for r in branch if r.id in applied]
            rows.append(
                ServiceStatus(
                    service=service,
                    current=done[-1] if done else None,
                    head=branch[-1].id if branch else None,
                    pending=tuple(r.id for r in branch if r.id not in applied),
                    heads=tuple(self.branch_heads(service)),
                )
            )
        return rows

    def rollback_revisions(self, revision: str, applied: set[str]) -> list[str]:
        """What rolling back `revision` takes: it and every applied revision that needs it,
        newest first."""
        if revision not in applied:
            raise GraphError(f"revision {revision} is not applied; nothing to roll back")
        affected = self.descendants([revision]) & applied
        return list(reversed(self.in_order(affected)))

    def last_applied(
        self,
        applied: set[str],
        service: Service | None = None,
        applied_order: Mapping[str, int] | None = None,
    ) -> str | None:
        """The revision `down` takes back: the newest of the service, or else the one applied
        last (by the history's order, then by id for revisions the history does not know)
        among those nothing applied needs."""
        if service is not None:
            done = [r.id for r in self.branch(service) if r.id in applied]
            return done[-1] if done else None
        order = applied_order or {}
        return max(self.heads_of(applied), key=lambda rev: (order.get(rev, -1), rev), default=None)

    def heads_of(self, applied: set[str]) -> set[str]:
        """The applied revisions that no other applied revision needs."""
        return {rev for rev in applied if not self._children[rev] & applied}

    def downgrade_target(self, revision: str) -> str:
        """The Alembic target that removes exactly `revision` once nothing applied needs it."""
        rev = self[revision]
        if rev.down_revisions:
            return rev.down_revisions[0]
        return f"{rev.service.branch_label}@base"
