"""`migrate graph` and `migrate erd`: the pictures parse, show what they claim, and README shows
them as the commands draw them.

No Mermaid parser is published for Python, so the Mermaid text is checked here against the
statements the commands write: every line one of those forms, every arrow between declared
boxes, every subgraph or entity closed. Graphviz draws the DOT text when it is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    PROJECT_ROOT,
    add_revision,
    branch_of,
    connection_to,
    head_of,
    platform_graph,
    run_migrate,
)
from sqlalchemy.engine import URL

from migrator.model import services

GRAPHVIZ = shutil.which("dot")
needs_graphviz = pytest.mark.skipif(GRAPHVIZ is None, reason="Graphviz's dot is not installed")

_KEYWORDS = {"end", "subgraph", "graph", "flowchart", "style", "class", "classDef", "click"}
_ID = r"[A-Za-z][A-Za-z0-9_]*"
_LABEL = r'"(?:[^"<>]|<br/>)*"'
_SUBGRAPH = re.compile(rf"subgraph ({_ID})\[{_LABEL}\]")
_NODE = re.compile(rf"({_ID})\[{_LABEL}\]")
_ARROW = re.compile(rf"({_ID}) (?:-->|-\.->) ({_ID})")

_ENTITY = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\["[^"]*"\] \{')
_ATTRIBUTE = re.compile(
    r"[A-Za-z][A-Za-z0-9_\-\[\]]* [A-Za-z_][A-Za-z0-9_]*(?: (?:PK|FK)(?:, (?:PK|FK))*)?"
    r'(?: "[^"]*")?'
)
_RELATIONSHIP = re.compile(
    r'([A-Za-z_][A-Za-z0-9_-]*) (?:\|\||\|o)(?:--|\.\.)o\{ ([A-Za-z_][A-Za-z0-9_-]*) : "[^"]*"'
)


def flowchart_problems(text: str) -> list[str]:
    """What keeps the text from being the Mermaid flowchart `migrate graph` writes."""
    lines = [line.strip() for line in text.splitlines()]
    problems = [] if lines[:1] == ["flowchart LR"] else [f"first line {lines[:1]}"]
    nodes: set[str] = set()
    depth = 0
    for number, line in enumerate(lines[1:], start=2):
        if line == "end":
            depth -= 1
            if depth < 0:
                problems.append(f"line {number}: end without subgraph")
        elif match := _SUBGRAPH.fullmatch(line):
            depth += 1
        elif match := _NODE.fullmatch(line):
            if match[1] in nodes or match[1] in _KEYWORDS:
                problems.append(f"line {number}: node id {match[1]} declared twice or reserved")
            nodes.add(match[1])
        elif match := _ARROW.fullmatch(line):
            problems += [
                f"line {number}: arrow to undeclared {end}"
                for end in match.groups()
                if end not in nodes
            ]
        else:
            problems.append(f"line {number}: not a flowchart statement: {line}")
    if depth != 0:
        problems.append(f"{depth} subgraph(s) left open")
    return problems


def er_diagram_problems(text: str) -> list[str]:
    """What keeps the text from being the Mermaid erDiagram `migrate erd` writes."""
    lines = [line.strip() for line in text.splitlines()]
    problems = [] if lines[:1] == ["erDiagram"] else [f"first line {lines[:1]}"]
    entities: set[str] = set()
    inside = False
    for number, line in enumerate(lines[1:], start=2):
        if inside and line == "}":
            inside = False
        elif inside and _ATTRIBUTE.fullmatch(line):
            continue
        elif not inside and (match := _ENTITY.fullmatch(line)):
            inside = True
            entities.add(match[1])
        elif not inside and (match := _RELATIONSHIP.fullmatch(line)):
            problems += [
                f"line {number}: relationship to undeclared {entity}"
                for entity in match.groups()
                if entity not in entities
            ]
        else:
            problems.append(f"line {number}: not an erDiagram statement: {line}")
    if inside:
        problems.append("an entity left open")
    return problems


def _node(revision: str) -> str:
    return f"r{revision}"


def _declared_nodes(text: str) -> set[str]:
    return {match[1] for line in text.splitlines() if (match := _NODE.fullmatch(line.strip()))}


def _readme_mermaid_blocks() -> list[str]:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return [part.split("```", 1)[0] for part in readme.split("```mermaid\n")[1:]]


def _graphviz_draws(dot_text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GRAPHVIZ), "-Tsvg"], input=dot_text, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def crm_database(new_database_module: URL) -> Iterator[URL]:
    """A database with crm and what it depends on applied, which the ERD tests only read."""
    assert run_migrate("up", "--service", "crm", url=new_database_module).exit_code == 0
    yield new_database_module


def test_the_structural_check_rejects_an_open_subgraph_and_an_arrow_to_nowhere() -> None:
    broken = 'flowchart LR\n    subgraph s_a["a"]\n        ra["x"]\n    ra --> rb\n'

    assert flowchart_problems(broken) == [
        "line 4: arrow to undeclared rb",
        "1 subgraph(s) left open",
    ]


def test_graph_mermaid_is_a_valid_flowchart_of_every_revision() -> None:
    result = run_migrate("graph", "--format", "mermaid")

    assert result.exit_code == 0
    assert flowchart_problems(result.stdout) == []
    assert _declared_nodes(result.stdout) == {_node(rev) for rev in platform_graph().revisions}


def test_graph_needs_no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing_listens_here")

    result = run_migrate("graph", "--service", "auth")

    assert result.exit_code == 0
    assert flowchart_problems(result.stdout) == []


def test_graph_draws_depends_on_dotted_and_a_branch_in_order_solid() -> None:
    first, second = branch_of("crm")[:2]
    needed = platform_graph()[first].dependencies

    text = run_migrate("graph").stdout

    assert needed
    for dependency in needed:
        assert f"    {_node(dependency)} -.-> {_node(first)}\n" in text
    assert f"    {_node(first)} --> {_node(second)}\n" in text


def test_graph_of_a_service_holds_it_and_only_what_it_depends_on() -> None:
    graph = platform_graph()
    crm = branch_of("crm")

    text = run_migrate("graph", "--service", "crm-service").stdout

    assert flowchart_problems(text) == []
    assert _declared_nodes(text) == {_node(rev) for rev in graph.ancestors(crm)}
    assert _node(head_of("erp")) not in text


def test_graph_labels_with_quotes_and_angle_brackets_stay_valid(project: Path) -> None:
    path = add_revision(
        project, "erp", "20991231_001", down_revision=head_of("erp"), upgrade="SELECT 1;"
    )
    title = "Test revision 20991231_001"
    path.write_text(path.read_text().replace(title, 'Rename "name" to <legal_name> #2', 1))

    text = run_migrate("graph", "--service", "erp", project=project).stdout

    assert flowchart_problems(text) == []
    assert "Rename #quot;name#quot; to #lt;legal_name#gt; #35;2" in text


@needs_graphviz
def test_graph_dot_is_drawn_by_graphviz() -> None:
    result = run_migrate("graph", "--format", "dot")

    drawn = _graphviz_draws(result.stdout)

    assert result.exit_code == 0
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.count('class="cluster"') == len(services.SERVICES)


@needs_graphviz
def test_graph_svg_is_graphviz_drawing() -> None:
    result = run_migrate("graph", "--format", "svg", "--service", "auth")

    assert result.exit_code == 0
    assert result.stdout.startswith("<?xml")
    assert "</svg>" in result.stdout


def test_graph_svg_without_graphviz_exits_2_and_says_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    result = run_migrate("graph", "--format", "svg")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --format svg needs Graphviz")
    assert "--format dot or --format mermaid" in result.stderr


def test_graph_output_writes_the_picture_to_the_file(tmp_path: Path) -> None:
    target = tmp_path / "revisions.mmd"

    result = run_migrate("graph", "--service", "auth", "--output", str(target))

    assert result.exit_code == 0
    assert target.read_text() == run_migrate("graph", "--service", "auth").stdout


def test_graph_unknown_format_exits_2() -> None:
    result = run_migrate("graph", "--format", "png")

    assert result.exit_code == 2
    assert result.stderr == "error: --format 'png': use mermaid, dot, svg\n"


def test_erd_mermaid_is_a_valid_er_diagram_of_every_crm_table(crm_database: URL) -> None:
    with connection_to(crm_database) as connection:
        tables = connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'crm'"
        ).scalars()
        expected = {f'    crm_{table}["crm.{table}"] {{' for table in tables}

    result = run_migrate("erd", "--service", "crm", url=crm_database)

    assert result.exit_code == 0
    assert er_diagram_problems(result.stdout) == []
    assert {line for line in result.stdout.splitlines() if line.startswith("    crm_")} >= expected


def test_erd_draws_another_services_referenced_table_as_external(crm_database: URL) -> None:
    text = run_migrate("erd", "--service", "crm", url=crm_database).stdout

    assert '    auth_users["auth.users (auth-service)"] {\n        uuid id PK\n    }\n' in text
    assert '    auth_users ||..o{ crm_customers : "owner_id"\n' in text


@needs_graphviz
def test_erd_dot_is_drawn_by_graphviz(crm_database: URL) -> None:
    result = run_migrate("erd", "--service", "crm", "--format", "dot", url=crm_database)

    drawn = _graphviz_draws(result.stdout)

    assert result.exit_code == 0
    assert drawn.returncode == 0, drawn.stderr
    assert "auth.users (auth&#45;service)" in drawn.stdout


def test_erd_of_a_service_without_tables_exits_1_and_says_to_migrate(crm_database: URL) -> None:
    result = run_migrate("erd", "--service", "erp", url=crm_database)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: the database has no tables in the schema erp")
    assert "migrate up --service erp" in result.stderr


def _drawn_in_order(shown: str, drawn: str) -> bool:
    """Every line README shows is a line the command draws, in the same order: revisions and
    columns added later only add lines, so README stays true until something it shows changes."""
    remaining = iter(drawn.splitlines())
    return all(line in remaining for line in shown.splitlines())


def _readme_block_starting(first_line: str) -> str:
    return next(block for block in _readme_mermaid_blocks() if block.startswith(first_line))


def test_readme_shows_the_crm_graph_as_the_command_draws_it() -> None:
    text = run_migrate("graph", "--service", "crm").stdout

    assert _drawn_in_order(_readme_block_starting("flowchart"), text), (
        "README's Pictures section is out of date: paste `migrate graph --service crm` there"
    )


def test_readme_shows_the_crm_erd_as_the_command_draws_it(crm_database: URL) -> None:
    text = run_migrate("erd", "--service", "crm", url=crm_database).stdout

    assert _drawn_in_order(_readme_block_starting("erDiagram"), text), (
        "README's Pictures section is out of date: paste `migrate erd --service crm` there"
    )


def test_a_line_the_command_no_longer_draws_makes_readme_out_of_date() -> None:
    drawn = "flowchart LR\n    a --> b\n    b --> c\n"

    assert _drawn_in_order("flowchart LR\n    b --> c\n", drawn)
    assert not _drawn_in_order("flowchart LR\n    b --> c\n    a --> b\n", drawn)
    assert not _drawn_in_order("flowchart LR\n    a --> d\n", drawn)
