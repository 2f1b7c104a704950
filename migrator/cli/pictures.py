"""graph and erd on the command line: the picture's text on standard output, or in --output.
Plain output, without the console's markup or wrapping, so that it pastes into a README or
pipes into Graphviz as it is."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from migrator.cli import app, context
from migrator.cli.console import out, reports_errors
from migrator.cli.options import ServiceName, Target, target_options

Format = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="mermaid (GitHub and GitLab draw it in Markdown), dot, or svg (needs Graphviz).",
    ),
]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the picture here.", show_default=False)
]


@app.command("graph")
@reports_errors
@target_options(database=False)
def graph_command(
    format: Format = "mermaid",
    service: ServiceName = None,
    output: Output = None,
    *,
    target: Target,
) -> None:
    """Draw the revisions of every service (or of one and what it depends on), each service's
    in order, cross-service dependencies dotted."""
    from migrator.commands import pictures

    if output is not None:
        pictures.refuse_unwritable_output(output)
    _show(pictures.graph(context(target), format, service), output)


@app.command("erd")
@reports_errors
@target_options()
def erd_command(
    service: Annotated[str, typer.Option("--service", "-s", help="The service to draw.")],
    format: Format = "mermaid",
    output: Output = None,
    *,
    target: Target,
) -> None:
    """Draw a service's tables, columns and keys as the database has them, with the tables of
    other services its foreign keys reference."""
    from migrator.commands import pictures

    if output is not None:
        pictures.refuse_unwritable_output(output)
    _show(pictures.erd(context(target), format, service), output)


def _show(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text)
    out.print(f"wrote {output}", markup=False)
