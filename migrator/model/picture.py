"""The revision graph as a picture: Mermaid text (which GitHub and GitLab draw in a README or a
pull request) and Graphviz DOT.

People reviewing a cross-service change ask which revisions of other services it needs; the
depends_on lines in the files answer it one file at a time, a picture answers it at a glance.
Each service is a box holding its revisions in order, each revision labelled with its id and
title; a service's own history is drawn as solid arrows, `depends_on` as dotted ones, so a
dependency between services stands out from a branch's own order. Arrows point from a revision
to the ones built on it, the order in which they apply.

Both languages read labels as markup of their own, so every name and title passes through the
quoting helpers here, which the ERD's pictures use too.
"""

from __future__ import annotations

from collections.abc import Iterable

from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.model.revision import Revision


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: quotes and angle brackets as Mermaid's entity codes
    (the `#` first, so that no code is read twice), the rest as it is."""
    for character, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(character, code)
    return text


def mermaid_id(prefix: str, name: str) -> str:
    """A node id Mermaid accepts whatever the name: letters, digits and underscores, starting
    with a letter (`end` or a leading digit would break the diagram)."""
    return prefix + "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)


def dot_string(text: str, line_end: str = "\\n") -> str:
    """A quoted DOT string; DOT reads backslash escapes inside quotes, and ends a line of a
    label with `\\n` (centred) or `\\l` (left-aligned)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", line_end) + '"'


def _chosen_in_order(graph: RevisionGraph, chosen: set[str]) -> list[tuple[str, list[Revision]]]:
    """The services that hold chosen revisions, in the registry's order, each with its chosen
    revisions oldest first."""
    groups = []
    for service in services.SERVICES:
        revisions = [revision for revision in graph.branch(service) if revision.id in chosen]
        if revisions:
            groups.append((service.name, revisions))
    return groups


def _edges(graph: RevisionGraph, chosen: set[str]) -> Iterable[tuple[str, str, bool]]:
    """(parent, child, through depends_on) for every arrow between chosen revisions."""
    for rev in graph.in_order(chosen):
        revision = graph[rev]
        for parent in revision.down_revisions:
            if parent in chosen:
                yield parent, rev, False
        for parent in revision.dependencies:
            if parent in chosen:
                yield parent, rev, True


def revisions_mermaid(graph: RevisionGraph, chosen: set[str]) -> str:
    """A Mermaid flowchart of the chosen revisions. Arrows come after every box, so that no
    revision is pulled into another service's box by the first arrow that names it."""
    lines = ["flowchart LR"]
    for service, revisions in _chosen_in_order(graph, chosen):
        lines.append(f'    subgraph {mermaid_id("s_", service)}["{mermaid_text(service)}"]')
        for revision in revisions:
            label = f"{mermaid_text(revision.id)}<br/>{mermaid_text(revision.title)}"
            lines.append(f'        {mermaid_id("r", revision.id)}["{label}"]')
        lines.append("    end")
    for parent, child, dependency in _edges(graph, chosen):
        arrow = "-.->" if dependency else "-->"
        lines.append(f"    {mermaid_id('r', parent)} {arrow} {mermaid_id('r', child)}")
    return "\n".join(lines) + "\n"


def revisions_dot(graph: RevisionGraph, chosen: set[str]) -> str:
    """A Graphviz digraph of the chosen revisions, a cluster per service."""
    lines = [
        "digraph revisions {",
        "    rankdir=LR;",
        '    fontname="Helvetica";',
        '    node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
    ]
    for service, revisions in _chosen_in_order(graph, chosen):
        lines.append(f"    subgraph {dot_string('cluster_' + service)} {{")
        lines.append(f"        label={dot_string(service)};")
        for revision in revisions:
            label = dot_string(f"{revision.id}\n{revision.title}")
            lines.append(f"        {dot_string(revision.id)} [label={label}];")
        lines.append("    }")
    for parent, child, dependency in _edges(graph, chosen):
        style = " [style=dotted]" if dependency else ""
        lines.append(f"    {dot_string(parent)} -> {dot_string(child)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
