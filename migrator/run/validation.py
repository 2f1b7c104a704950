"""Do the files still say what the database ran?

An applied revision whose SQL was edited afterwards means that databases migrated before and
after the edit differ although both claim the same revision; a revision the database records
but no file defines means someone deleted or never pulled it. Either way applying more on top
would build on a history nobody can reproduce, so writing runs refuse until a person decides:
revert the edit, restore the file, or accept the new checksum on purpose with `repair`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from migrator.config import Settings
from migrator.database import database_heads
from migrator.errors import CheckFailed, MigratorError
from migrator.model.graph import RevisionGraph
from migrator.run import history

BLOCKING = ("edited", "unknown", "missing")


@dataclass(frozen=True)
class Finding:
    """One disagreement between the files and the database."""

    kind: str  # edited | unknown | missing | unrecorded
    revision: str
    detail: str

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING

    def describe(self) -> str:
        return f"{self.kind}: {self.revision} {self.detail}"


class ValidationFailed(CheckFailed):
    """Applied revisions and files disagree; nothing is applied until a person decides."""


def _who(row: history.Row) -> str:
    return f"{row.finished_at:%Y-%m-%d %H:%M} by {row.os_user}@{row.host}"


def findings(
    graph: RevisionGraph,
    heads: tuple[str, ...],
    recorded: dict[str, history.Row],
) -> list[Finding]:
    """Compare what the version table and the history record with the revision files."""
    found: list[Finding] = []
    heads = graph.current_heads(heads)
    known_heads = [head for head in heads if head in graph.revisions]
    for head in sorted(set(heads) - set(known_heads)):
        found.append(
            Finding(
                "unknown",
                head,
                "is in the version table but no revision file defines it; restore the file "
                "(for example from git) or pull the branch that added it",
            )
        )
    applied = graph.ancestors(known_heads)
    recorded_applied = history.recorded_as_applied(recorded)
    # A squashed revision counts as recorded where the revisions it replaced were.
    squashed = {graph.replaced[rev] for rev in recorded_applied if rev in graph.replaced}
    for revision, row in sorted(recorded_applied.items()):
        if revision not in graph.revisions:
            if revision not in heads and revision not in graph.replaced:
                found.append(
                    Finding(
                        "missing",
                        revision,
                        f"({row.service}) was applied {_who(row)} but its file is gone; "
                        "restore it from git",
                    )
                )
            continue
        if revision not in applied or row.checksum is None:
            continue
        known = graph[revision]
        now = known.checksum("upgrade")
        if row.checksum != now and row.checksum != known.legacy_checksum:
            found.append(
                Finding(
                    "edited",
                    revision,
                    f"{known.location} changed after it was applied "
                    f"{_who(row)} (checksum {row.checksum[:12]}, file now {now[:12]}); revert "
                    f"the edit and write a new revision, or accept it: "
                    f"`migrate repair --version {revision}`",
                )
            )
    for revision in graph.in_order(applied - recorded_applied.keys() - squashed):
        found.append(
            Finding(
                "unrecorded",
                revision,
                "is applied but no checksum was recorded (applied before the history existed); "
                f"record the current one with `migrate repair --version {revision}`",
            )
        )
    return found


def check(connection: Connection, settings: Settings, graph: RevisionGraph) -> list[Finding]:
    """Everything `validate` reports about one database."""
    heads = database_heads(connection, settings)
    recorded = history.latest_success_by_revision(connection, settings.tool_schema)
    connection.commit()
    return findings(graph, heads, recorded)


def refuse_unless_valid(found: list[Finding]) -> None:
    blocking = [finding for finding in found if finding.blocking]
    if blocking:
        raise ValidationFailed(
            f"{len(blocking)} applied revision(s) disagree with the files, so nothing is "
            "applied; `migrate validate` explains each",
            [finding.describe() for finding in blocking],
        )


def repair(
    connection: Connection,
    settings: Settings,
    graph: RevisionGraph,
    revision: str,
    who: history.Identity,
) -> str:
    """Accept the file's current checksum of an applied revision, recording who did it."""
    heads = database_heads(connection, settings)
    known = [head for head in heads if head in graph.revisions]
    if revision not in graph.ancestors(known):
        raise MigratorError(
            f"revision {revision} is not applied in this database; repair accepts the checksum "
            "of applied revisions only"
        )
    recorded = history.latest_success_by_revision(connection, settings.tool_schema)
    previous = recorded.get(revision)
    new = graph[revision].checksum("upgrade")
    was = previous.checksum[:12] if previous and previous.checksum else "none recorded"
    now = datetime.now(UTC)
    history.record(
        connection.exec_driver_sql,
        settings.tool_schema,
        history.Attempt(
            run_id=uuid.uuid4(),
            revision=revision,
            service=graph.revisions[revision].service.name,
            direction="repair",
            started_at=now,
            finished_at=now,
            outcome="success",
            checksum=new,
            note=f"checksum accepted by {who.os_user}@{who.host}: {new[:12]} (was {was})",
        ),
        who,
    )
    connection.commit()
    return new
