"""One SQL statement of a revision, as the runner needs it.

Kept apart from the parser so that a revision that comes from the cache (its statements split
and classified when its file was last read) costs no import of PostgreSQL's parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Statement:
    """One statement of a body, as written, where it may run, and what the runner must know
    of it. Everything is decided from the parse tree when the body is split; the tree itself is
    kept only while the statement lives in this process (a cached revision comes back without
    it, and its canonical text with it)."""

    text: str
    transactional: bool
    line: int
    takes_access_exclusive: bool = False
    # For `CREATE INDEX CONCURRENTLY name ...`: the index's name as PostgreSQL resolves it, so
    # that an INVALID index an interrupted try left can be dropped and built again.
    concurrent_index: str | None = None
    node: Any = field(default=None, compare=False, repr=False)

    def values(self) -> tuple:
        """The statement as plain values, for the revision cache."""
        return (
            self.text,
            self.transactional,
            self.line,
            self.takes_access_exclusive,
            self.concurrent_index,
            self.canonical,
        )

    @classmethod
    def restored(cls, values: tuple) -> Statement:
        """A statement from `values`, without its parse tree (its canonical text kept)."""
        *fields, canonical = values
        statement = cls(*fields)
        statement.__dict__["canonical"] = canonical
        return statement

    @property
    def first_line(self) -> str:
        return self.text.strip().splitlines()[0] if self.text.strip() else ""

    @cached_property
    def canonical(self) -> str:
        """The statement as pglast renders its parse tree: comments, spacing and letter case of
        keywords gone, every token that changes its meaning kept."""
        from pglast.stream import RawStream

        from migrator.model.sql import parse

        node = self.node if self.node is not None else parse(self.text)[0].stmt
        return RawStream()(node)
