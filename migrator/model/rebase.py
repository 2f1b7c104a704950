"""Moving one line of parallel revisions after the other: which ids it takes, and the text of
every file the move touches.

Two engineers who each add a revision on a service's head leave the branch with two heads; the
fix is what git calls a rebase: one line keeps its place, the other is put on top of it. A
moved revision gets a new id (the next free one, as `migrate new` gives, so that it sorts after
its new parent), a file named after it and the new `down_revision`; revisions of other services
that named it in `depends_on` follow it. Files are rewritten where the revision model finds the
values (the module docstring, `revision`, `down_revision`, `depends_on`); every other byte,
SQL included, is kept as written.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from migrator.model import guards, template
from migrator.model import revision as revision_model
from migrator.model.graph import RevisionGraph

# The assignments whose values name revisions.
_NAMING = ("revision", "down_revision", "depends_on")


@dataclass(frozen=True)
class Move:
    """One line of revisions (`renamed`, old id to new, oldest first) put after `onto`."""

    onto: str
    renamed: dict[str, str]


@dataclass(frozen=True)
class Rewrite:
    """A file's new bytes, and where they go (`path`, or a new name for a moved revision)."""

    path: Path
    new_path: Path
    content: bytes


def plan(graph: RevisionGraph, onto: str, line: Iterable[str], today: datetime.date) -> Move:
    """Put `line` (a head's revisions since the fork) after `onto`, each revision with the
    next free id of today, or of `onto`'s date if that is later."""
    day = max(today, _date_of(onto) or today)
    taken = set(graph.revisions)
    renamed: dict[str, str] = {}
    for old in graph.in_order(line):
        renamed[old] = template.next_revision_id(taken, day)
        taken.add(renamed[old])
    return Move(onto, renamed)


def _date_of(revision: str) -> datetime.date | None:
    if not guards.is_house_id(revision):
        return None
    return datetime.datetime.strptime(revision[:8], "%Y%m%d").date()


def rewrites(graph: RevisionGraph, move: Move) -> list[Rewrite]:
    """Every file the move changes: the moved revisions and those that name one of them."""
    first = graph[next(iter(move.renamed))]
    touched = set(move.renamed).union(*(graph.children(rev) for rev in move.renamed))
    found = []
    for rev in graph.in_order(touched):
        path = graph[rev].path
        content = rewrite_source(path.read_bytes(), move.renamed)
        if rev == first.id:
            content = reparent(content, first.down_revisions, move.onto)
        found.append(Rewrite(path, path.with_name(_renamed(path.name, move.renamed)), content))
    return found


def _renamed(name: str, renamed: dict[str, str]) -> str:
    """`{id}_{service}_{description}.py` under the new id; other files keep their names."""
    for old, new in renamed.items():
        if name.startswith(f"{old}_"):
            return new + name[len(old) :]
    return name


def rewrite_source(source: bytes, renamed: dict[str, str]) -> bytes:
    """The file with every renamed id replaced in its docstring and in the values of
    `revision`, `down_revision` and `depends_on`; quotes, layout and every other byte stay."""

    def renaming(text: str) -> str:
        for old, new in renamed.items():
            text = text.replace(old, new)
        return text

    return _edited(source, {name: renaming for name in ("__doc__", *_NAMING)})


def reparent(source: bytes, parents: tuple[str, ...], onto: str) -> bytes:
    """The file with `down_revision` naming `onto` in place of its parent (or of None, for a
    line that began at the branch's base)."""

    def new_parent(text: str) -> str:
        return text.replace(parents[0], onto) if parents else f'"{onto}"'

    return _edited(source, {"down_revision": new_parent})


def _edited(source: bytes, change: dict[str, Callable[[str], str]]) -> bytes:
    """`source` with the values of the named literals (as the revision model places them)
    passed through their change."""
    spans = revision_model.value_spans(source)
    for name, (start, end) in sorted(spans.items(), key=lambda item: item[1], reverse=True):
        if name in change:
            text = change[name](source[start:end].decode())
            source = source[:start] + text.encode() + source[end:]
    return source
