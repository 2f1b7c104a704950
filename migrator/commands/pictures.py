"""graph and erd: the revision history and a service's tables as pictures people paste into a
README or a pull request (Mermaid), or draw with Graphviz (DOT, SVG).

`graph` reads only the revision files (through the revision cache) and needs no database;
`erd` reads the live catalog. SVG is Graphviz's drawing of the DOT text, so it needs Graphviz's
`dot` program; the other formats need nothing installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from migrator import config
from migrator.context import Context
from migrator.errors import MigratorError, UsageError
from migrator.model import picture, services

FORMATS = ("mermaid", "dot", "svg")


def graph(ctx: Context, format: str, service: str | None) -> str:
    """The revisions of every service (or of one and what it depends on), their order and
    their cross-service dependencies."""
    _refuse_unknown(format)
    revisions = ctx.graph
    if service is None:
        chosen = set(revisions.revisions)
    else:
        branch = revisions.branch(services.resolve(service))
        chosen = revisions.ancestors(revision.id for revision in branch)
    if format == "mermaid":
        return picture.revisions_mermaid(revisions, chosen)
    return _drawn(picture.revisions_dot(revisions, chosen), format)


def erd(ctx: Context, format: str, service: str) -> str:
    """The service's tables, columns, primary and foreign keys as the database has them,
    with the other services' tables its foreign keys reference."""
    from migrator.checks import erd as erd_check

    _refuse_unknown(format)
    chosen = services.resolve(service)
    with ctx.reading() as connection:
        diagram = erd_check.read(connection, chosen.schema)
    if not diagram.tables:
        raise MigratorError(
            f"the database has no tables in the schema {chosen.schema}; apply its migrations "
            f"first (`migrate up --service {chosen.name}`)"
        )
    if format == "mermaid":
        return erd_check.mermaid(diagram)
    return _drawn(erd_check.dot(diagram), format)


def refuse_unwritable_output(path: Path) -> None:
    """An --output the tool could not write is bad input, refused before any work."""
    config.refuse_unwritable_file(path, "--output")


def _refuse_unknown(format: str) -> None:
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: use {', '.join(FORMATS)}")


def _drawn(dot_text: str, format: str) -> str:
    """DOT as it is, or drawn as SVG by Graphviz."""
    if format == "dot":
        return dot_text
    program = shutil.which("dot")
    if program is None:
        raise UsageError(
            "--format svg needs Graphviz's `dot` program, which is not on PATH; install Graphviz "
            "(apt install graphviz, brew install graphviz) or use --format dot or --format mermaid"
        )
    drawn = subprocess.run(
        [program, "-Tsvg"], input=dot_text, capture_output=True, text=True, check=False
    )
    if drawn.returncode != 0:
        reason = drawn.stderr.strip().splitlines()[0] if drawn.stderr.strip() else "no message"
        raise MigratorError(f"Graphviz could not draw the picture ({reason}); try --format dot")
    return drawn.stdout
