"""A plan: exactly which revisions a run will apply or roll back, from which database state.

Production applies nothing that was not approved, so the approval names the plan by a short
hash over everything that decides what runs: the database's current heads, the direction, the
revisions in order and each one's checksum. If a file or the database moves after the plan was
read, its hash changes and the approval no longer fits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from migrator.model import sql
from migrator.model.graph import RevisionGraph
from migrator.revision import checksum


@dataclass(frozen=True)
class Plan:
    direction: str  # upgrade | downgrade
    database_heads: tuple[str, ...]
    revisions: tuple[str, ...]
    checksums: tuple[str, ...]

    @property
    def hash(self) -> str:
        document = json.dumps(
            [self.direction, sorted(self.database_heads), self.revisions, self.checksums]
        )
        return hashlib.sha256(document.encode()).hexdigest()[:12]

    def __bool__(self) -> bool:
        return bool(self.revisions)

    def summary(self) -> str:
        verb = "apply" if self.direction == "upgrade" else "roll back"
        return f"{verb} {len(self.revisions)} revision(s): {', '.join(self.revisions)}"


def build(
    graph: RevisionGraph, database_heads: tuple[str, ...], direction: str, revisions: list[str]
) -> Plan:
    return Plan(
        direction=direction,
        database_heads=tuple(sorted(database_heads)),
        revisions=tuple(revisions),
        checksums=tuple(checksum(graph.module(rev)) for rev in revisions),
    )


def render(graph: RevisionGraph, plan: Plan) -> str:
    """The plan as a reviewer reads it: each revision with its SQL, statement by statement,
    marked with where it runs."""
    body_name = "UPGRADE" if plan.direction == "upgrade" else "DOWNGRADE"
    lines = [f"-- plan {plan.hash}: {plan.summary()}"]
    for number, rev in enumerate(plan.revisions, start=1):
        revision = graph.revisions[rev]
        phase = f", {revision.phase}" if revision.phase else ""
        lines.append("")
        lines.append(
            f"-- [{number}] {rev} ({revision.service.name}{phase}) {revision.path.name}: "
            f"{revision.message.splitlines()[0] if revision.message else ''}"
        )
        body = getattr(graph.module(rev), body_name, None)
        if not isinstance(body, str):
            lines.append(f"--   Python code, no {body_name} SQL: read {revision.path.name}")
            continue
        for statement in sql.split(body):
            where = (
                "in the revision's transaction"
                if statement.transactional
                else ("outside a transaction (autocommit)")
            )
            lines.append(f"--   line {statement.line}, {where}:")
            lines.append(statement.text + ";")
    return "\n".join(lines)
