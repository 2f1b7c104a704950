"""Plans as text: for the reviewer (`plan`) and for psql (`export-sql`).

Both read the statements of the same PlannedRevision steps, so a reviewer approves exactly what
`up` runs and what psql would run. A batched backfill appears as the UPDATE it amounts to, with
a comment saying that `up` runs it in keyed slices; psql runs that UPDATE as it stands, which
fills the column in one statement.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from migrator.model.plan import Plan, PlannedRevision
from migrator.model.statement import Statement


@dataclass(frozen=True)
class Entry:
    """One statement of a planned revision, with the note its step carries (if any)."""

    statement: Statement
    comment: str | None


def entries(item: PlannedRevision) -> Iterator[Entry]:
    for step in item.steps:
        for number, statement in enumerate(step.statements):
            yield Entry(statement, step.comment if number == 0 else None)


def where(statement: Statement) -> str:
    if statement.transactional:
        return "in the revision's transaction"
    return "outside the revision's transaction (autocommit)"


def review(plan: Plan) -> str:
    """The plan as a reviewer reads it: each revision, then each statement with its file and
    line and where it runs."""
    lines = [f"-- plan {plan.hash}: {plan.summary()}"]
    for number, item in enumerate(plan.items, start=1):
        revision = item.revision
        phase = f", {revision.phase}" if revision.phase else ""
        lines.append("")
        lines.append(
            f"-- [{number}] {revision.id} ({revision.service.name}{phase}): {revision.title}"
        )
        lines.append(f"-- in {revision.path.name}")
        found = False
        for entry in entries(item):
            found = True
            if entry.comment:
                lines.append(f"--   {entry.comment}")
            place = f"{revision.path.name}:{entry.statement.line}"
            lines.append(f"--   {place}, {where(entry.statement)}:")
            lines.append(entry.statement.text + ";")
        if not found:
            lines.append(f"--   no statements in its {item.direction}")
    for number, repeatable in enumerate(plan.repeatables, start=len(plan.items) + 1):
        lines.append("")
        lines.append(
            f"-- [{number}] repeatable {repeatable.key}: new or changed, in its own transaction"
        )
        for statement in repeatable.statements:
            lines.append(f"--   {repeatable.at(statement.line)}:")
            lines.append(statement.text + ";")
    return "\n".join(lines)


def script(item: PlannedRevision) -> str:
    """One revision's statements for psql: BEGIN/COMMIT around each run of statements that
    may share a transaction; the others (CONCURRENTLY, VACUUM) between them."""
    parts = []
    grouped = itertools.groupby(entries(item), key=lambda entry: entry.statement.transactional)
    for transactional, group in grouped:
        texts = "\n\n".join(
            (f"-- {entry.comment}\n" if entry.comment else "") + entry.statement.text + ";"
            for entry in group
        )
        parts.append(f"BEGIN;\n\n{texts}\n\nCOMMIT;" if transactional else texts)
    return "\n\n".join(parts)
