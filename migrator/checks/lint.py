"""Lint the revisions' SQL: squawk's rules, and the house rules squawk cannot know.

squawk (the `squawk-cli` package) knows which PostgreSQL statements lock what; it runs over
every UPGRADE and DOWNGRADE body, and its findings are mapped back to the revision file and
line. The house rules know this platform: the tool owns transactions, every revision can be
rolled back and re-run, headers agree with the code, and a revision that touches another
service's schema must come after the revision that creates what it touches (through
depends_on), or a fresh database cannot be built in any order Alembic may choose.

A finding is accepted, with its reason in writing, per revision (`lint_accept = {"rule":
"reason"}` in the file) or per project (`[tool.migrator.lint.accept]` in pyproject.toml);
squawk's own `-- squawk-ignore rule` comments work as squawk documents them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pglast import ast
from pglast.visitors import Visitor

from migrator import units
from migrator.config import Settings, pyproject_settings
from migrator.errors import MigratorError
from migrator.model import guards, repeatable, services, sql
from migrator.model import revision as revision_model
from migrator.model.graph import RevisionGraph
from migrator.model.impact import LOCK_MODES, SHARE
from migrator.model.revision import Revision

if TYPE_CHECKING:
    from migrator.checks.impact import RevisionImpact
    from migrator.model.plan import Plan


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    what: str
    why: str
    instead: str


HOUSE_RULES = {
    rule.name: rule
    for rule in (
        Rule(
            "no-transaction-control",
            "error",
            "a body contains BEGIN, COMMIT, ROLLBACK or SAVEPOINT",
            "the tool runs each revision in its own transaction and records it there; a COMMIT "
            "in the body ends that transaction before the version row is written",
            "remove them; statements PostgreSQL refuses in a transaction run outside one "
            "automatically",
        ),
        Rule(
            "require-downgrade",
            "error",
            "DOWNGRADE is missing or has no statement",
            "a revision nobody can roll back turns every bad deploy into a restore from backup",
            "write the inverse; for data changes keep the originals in a side table and put "
            "them back",
        ),
        Rule(
            "require-if-not-exists",
            "warning",
            "CREATE (table, index, schema, sequence, ADD COLUMN) without IF NOT EXISTS",
            "a revision retried after a failure, or resumed after its committed part, fails on "
            "what it created the first time",
            "CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT EXISTS, CREATE OR REPLACE",
        ),
        Rule(
            "require-if-exists",
            "warning",
            "DROP (table, index, schema, column, constraint, ...) without IF EXISTS",
            "a rollback retried after a failure fails on what it dropped the first time",
            "DROP ... IF EXISTS, DROP COLUMN IF EXISTS, DROP CONSTRAINT IF EXISTS",
        ),
        Rule(
            "header-matches-code",
            "error",
            "the file's header, name or folder disagrees with its code",
            "people, export-sql and migration-dependencies.yml read the header; a wrong one "
            "misleads all three",
            "fix the header (Service, Dependencies) or move/rename the file",
        ),
        Rule(
            "cross-service-dependency",
            "error",
            "SQL references another service's schema (foreign key, view, function, query) "
            "without a depends_on path to the revision that creates the referenced object",
            "Alembic may apply the branches in any order that respects depends_on; without it "
            "a fresh database fails, or worse, only sometimes",
            "add the creating revision to depends_on (and migration-dependencies.yml: "
            "`migrate deps sync`)",
        ),
        Rule(
            "repeatable-replaces-only",
            "error",
            "a repeatable file holds a statement other than CREATE OR REPLACE VIEW / FUNCTION "
            "/ PROCEDURE / TRIGGER, COMMENT ON or GRANT",
            "a repeatable runs again whenever its file changes; anything else fails on its "
            "second run or changes data each time",
            "keep the object's CREATE OR REPLACE in the repeatable file; put tables, drops and "
            "data changes in a versioned revision",
        ),
        Rule(
            "blocking-on-large-table",
            "warning",
            "a pending statement blocks writes (or reads and writes) while it scans, rewrites or "
            "indexes a table that is large on the connected database",
            "every write to that table waits for the whole scan or rewrite: seconds to hours of "
            "errors and timeouts in the services, where an empty development table showed "
            "nothing",
            "CREATE INDEX CONCURRENTLY; constraints NOT VALID, then VALIDATE CONSTRAINT; a "
            "CHECK (col IS NOT NULL) validated before SET NOT NULL; new columns without volatile "
            "defaults, filled by a batched backfill; or run it in a maintenance window",
        ),
    )
}

# A table this large takes seconds to scan on a busy server; an environment's own
# window_threshold_bytes, when set, says what large means there.
LARGE_TABLE_BYTES = 100 * 1024 * 1024

# squawk documents each of its rules on a page of its own, named after the rule.
SQUAWK_RULE_PAGES = "https://squawkhq.com/docs/"


def rule_page(rule: str) -> str | None:
    """Where a reader learns what a rule asks and why: squawk's page for its rules; the house
    rules have no page of their own (README's table and `HOUSE_RULES` explain them)."""
    return None if rule in HOUSE_RULES else SQUAWK_RULE_PAGES + rule


# squawk rules the engine makes moot: it sets lock_timeout and statement_timeout on every
# statement, and require-if-not-exists / require-if-exists say what prefer-robust-stmts says.
SQUAWK_EXCLUDED = ("require-lock-timeout", "require-statement-timeout", "prefer-robust-stmts")
# A rollback's job is to drop what its upgrade made; squawk's bans on dropping guard upgrades.
SQUAWK_EXCLUDED_IN_DOWNGRADES = (
    "ban-drop-table",
    "ban-drop-schema",
    "ban-drop-column",
    "ban-drop-function",
    "ban-drop-constraint",
    "ban-drop-index",
    "ban-drop-not-null",
    "ban-drop-trigger",
)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    path: Path
    line: int
    revision: str
    message: str
    help: str | None = None
    accepted: str | None = None  # the written reason, when accepted

    @property
    def counts(self) -> bool:
        return self.accepted is None

    def describe(self, root: Path) -> str:
        where = f"{self.path.relative_to(root)}:{self.line}"
        tail = f" (accepted: {self.accepted})" if self.accepted else ""
        hint = f"; {self.help}" if self.help else ""
        return f"{where}: {self.severity} {self.rule}: {self.message}{hint}{tail}"

    def as_json(self, root: Path) -> dict[str, Any]:
        document = asdict(self)
        document["path"] = str(self.path.relative_to(root))
        return document


class LintError(MigratorError):
    """squawk could not run."""


def lint(
    settings: Settings,
    graph: RevisionGraph,
    revisions: list[str],
    pg_version: str,
    on_the_database: Iterable[Finding] = (),
    repeatables: Iterable[repeatable.Repeatable] = (),
) -> list[Finding]:
    """Every finding of the given revisions and repeatable files, each marked accepted where
    a reason says so; `on_the_database` are those only the connected database can tell
    (table sizes). squawk reads a repeatable file as it reads an UPGRADE."""
    project_accept = pyproject_settings(settings.project_root).get("lint", {}).get("accept", {})
    creators = _creators(graph)
    file_problems = guards.problems_by_file(settings.project_root)
    findings: list[Finding] = []
    bodies: list[Body] = []
    for revision in revisions:
        known = graph[revision]
        file_bodies = {name: Body.of(known, body) for name, body in known.bodies.items()}
        bodies += file_bodies.values()
        findings += _house_findings(graph, revision, file_bodies, creators, file_problems)
    for file in repeatables:
        body = Body(file.key, file.path, "REPEATABLE", file.text, 1)
        findings += _repeatable_findings(body)
        bodies.append(body)
    upgrades = {body.revision: body for body in bodies if body.name == "UPGRADE"}
    for name, excluded in (
        ("UPGRADE", ()),
        ("DOWNGRADE", SQUAWK_EXCLUDED_IN_DOWNGRADES),
        ("REPEATABLE", ()),
    ):
        chosen = [body for body in bodies if body.name == name]
        findings += _squawk(chosen, pg_version, SQUAWK_EXCLUDED + excluded, upgrades)
    findings += on_the_database
    accepted_by_file = {graph[rev].path: graph[rev].lint_accept for rev in revisions}
    result = []
    for finding in findings:
        reason = accepted_by_file.get(finding.path, {}).get(finding.rule) or project_accept.get(
            finding.rule
        )
        result.append(_with(finding, accepted=reason) if reason else finding)
    return sorted(result, key=lambda f: (str(f.path), f.line, f.rule))


def blocking_on_large_tables(
    plan: Plan, impacts: list[RevisionImpact], revisions: list[str], threshold: int
) -> list[Finding]:
    """The pending statements of `revisions` that hold writes back while they work through a
    table above `threshold` bytes, as the connected database has it now."""
    rule = HOUSE_RULES["blocking-on-large-table"]
    found = []
    for item, impact in zip(plan.items, impacts, strict=True):
        if item.id not in revisions:
            continue
        statements = [statement for step in item.steps for statement in step.statements]
        for statement, estimated in zip(statements, impact.statements, strict=True):
            blocking = [
                lock
                for lock in estimated.impact.locks
                if LOCK_MODES.index(lock.mode) >= LOCK_MODES.index(SHARE)
            ]
            large = [
                size
                for size in estimated.sizes
                if size.table in estimated.impact.worked_tables and size.bytes > threshold
            ]
            if not blocking or estimated.impact.work == "catalog" or not large:
                continue
            tables = ", ".join(f"{size.table} ({units.size(size.bytes)})" for size in large)
            modes = ", ".join(sorted({lock.mode for lock in blocking}, key=LOCK_MODES.index))
            found.append(
                Finding(
                    rule.name,
                    rule.severity,
                    item.revision.path,
                    statement.line,
                    item.id,
                    f"{estimated.impact.kind} takes {modes} and {estimated.impact.work}s "
                    f"{tables}, larger than {units.size(threshold)}",
                    rule.instead,
                )
            )
    return found


@dataclass(frozen=True)
class Body:
    """One UPGRADE or DOWNGRADE body of a revision, or a repeatable file (REPEATABLE), for
    squawk and the house rules."""

    revision: str
    path: Path
    name: str
    text: str
    first_line: int  # the file line of the body's line 1

    @classmethod
    def of(cls, owner: Revision, body: revision_model.Body) -> Body:
        return cls(owner.id, owner.path, body.name, body.text, body.first_line)


def _repeatable_findings(body: Body) -> list[Finding]:
    """A repeatable file's statements that cannot run again, or the parser's complaint."""
    rule = "repeatable-replaces-only"
    try:
        parsed = sql.located(body.text)
    except sql.SqlError as error:
        return [_house(rule, body, error.line or 1, error.reason)]
    return [
        _house(rule, body, line, problem)
        for raw, line in parsed
        if (problem := repeatable.refusal(raw.stmt)) is not None
    ]


def _with(finding: Finding, **changes: Any) -> Finding:
    return Finding(**{**asdict(finding), **changes})


def _house(rule: str, body: Body, line: int, message: str) -> Finding:
    known = HOUSE_RULES[rule]
    return Finding(
        rule,
        known.severity,
        body.path,
        body.first_line + line - 1,
        body.revision,
        message,
        known.instead,
    )


def _house_findings(
    graph: RevisionGraph,
    revision: str,
    bodies: dict[str, Body],
    creators: dict[tuple[str, str], str],
    file_problems: dict[Path, list[str]],
) -> list[Finding]:
    path = graph.revisions[revision].path
    found: list[Finding] = []
    for problem in file_problems.get(path, []):
        rule = HOUSE_RULES["header-matches-code"]
        found.append(Finding(rule.name, rule.severity, path, 1, revision, problem, rule.instead))
    downgrade = bodies.get("DOWNGRADE")
    if downgrade is None or not _parsed(downgrade):
        body = downgrade or Body(revision, path, "DOWNGRADE", "", 1)
        found.append(_house("require-downgrade", body, 1, "the revision cannot be rolled back"))
    ancestors = graph.ancestors([revision])
    own_schema = graph.revisions[revision].service.schema
    for body in bodies.values():
        for raw, line in _parsed(body):
            node = raw.stmt
            if isinstance(node, ast.TransactionStmt):
                found.append(
                    _house(
                        "no-transaction-control", body, line, f"{body.name} controls transactions"
                    )
                )
                continue
            for message in _robustness(node):
                rule = (
                    "require-if-exists" if message.startswith("DROP") else "require-if-not-exists"
                )
                found.append(_house(rule, body, line, message))
            if body.name != "UPGRADE":
                continue
            for schema, name in sorted(_references(node)):
                if schema == own_schema or schema not in _SERVICE_SCHEMAS:
                    continue
                creator = creators.get((schema, name))
                if creator is None or creator not in ancestors:
                    made = f"created by {creator}" if creator else "created by no revision"
                    found.append(
                        _house(
                            "cross-service-dependency",
                            body,
                            line,
                            f"references {schema}.{name} ({made}) without a depends_on path to it",
                        )
                    )
    return found


_SERVICE_SCHEMAS = {service.schema for service in services.SERVICES}


def _parsed(body: Body) -> list[tuple[ast.RawStmt, int]]:
    """The body's statements with their line within the body; a body that does not parse
    yields nothing here (running it reports the parser's complaint with its line)."""
    try:
        return sql.located(body.text)
    except sql.SqlError:
        return []


def _robustness(node: ast.Node) -> list[str]:
    """What a statement creates without IF NOT EXISTS or drops without IF EXISTS."""
    creates = (
        ast.CreateStmt,
        ast.IndexStmt,
        ast.CreateSchemaStmt,
        ast.CreateSeqStmt,
        ast.CreateExtensionStmt,
    )
    if isinstance(node, creates) and not node.if_not_exists:
        return [
            f"CREATE {type(node).__name__.removeprefix('Create').removesuffix('Stmt')} "
            "without IF NOT EXISTS"
        ]
    if isinstance(node, ast.DropStmt) and not node.missing_ok:
        return ["DROP without IF EXISTS"]
    found = []
    if isinstance(node, ast.AlterTableStmt):
        for command in node.cmds or ():
            kind = getattr(command.subtype, "name", "")
            if kind == "AT_AddColumn" and not command.missing_ok:
                found.append("ADD COLUMN without IF NOT EXISTS")
            if kind in ("AT_DropColumn", "AT_DropConstraint") and not command.missing_ok:
                found.append(f"DROP {kind.removeprefix('AT_Drop').upper()} without IF EXISTS")
    return found


class _References(Visitor):
    """Schema-qualified relations and functions a statement uses."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[tuple[str, str]] = set()

    def visit_RangeVar(self, parent: Any, node: ast.RangeVar) -> None:
        if node.schemaname:
            self.found.add((node.schemaname, node.relname))

    def visit_FuncCall(self, parent: Any, node: ast.FuncCall) -> None:
        names = [part.sval for part in node.funcname if isinstance(part, ast.String)]
        if len(names) == 2:
            self.found.add((names[0], names[1]))


def _references(node: ast.Node) -> set[tuple[str, str]]:
    visitor = _References()
    visitor(node)
    return visitor.found


def _created(node: ast.Node) -> list[tuple[str, str]]:
    """The schema-qualified objects a statement creates."""
    relation = None
    if isinstance(node, ast.CreateStmt | ast.CreateSeqStmt):
        relation = node.relation if isinstance(node, ast.CreateStmt) else node.sequence
    elif isinstance(node, ast.ViewStmt):
        relation = node.view
    elif isinstance(node, ast.CreateTableAsStmt):
        relation = node.into.rel
    if relation is not None and relation.schemaname:
        return [(relation.schemaname, relation.relname)]
    if isinstance(node, ast.CreateFunctionStmt):
        names = [part.sval for part in node.funcname if isinstance(part, ast.String)]
        if len(names) == 2:
            return [(names[0], names[1])]
    return []


def _statement_at(body: Body, line: int) -> ast.Node | None:
    """The statement of `body` that spans its 1-based `line`."""
    found = None
    for raw, start in _parsed(body):
        if start > line:
            break
        found = raw.stmt
    return found


def _indexes_of_new_tables(body: Body) -> set[tuple[str | None, str]]:
    """Indexes the body builds on tables it creates itself: empty, and unseen by anyone else
    until the revision commits."""
    tables: set[tuple[str | None, str]] = set()
    indexes: set[tuple[str | None, str]] = set()
    for raw, _ in _parsed(body):
        node = raw.stmt
        if isinstance(node, ast.CreateStmt):
            tables.add((node.relation.schemaname, node.relation.relname))
        elif isinstance(node, ast.IndexStmt) and node.idxname:
            table = (node.relation.schemaname, node.relation.relname)
            if table in tables:
                indexes.add((node.relation.schemaname, node.idxname))
    return indexes


def _dropped_indexes(node: ast.Node | None) -> set[tuple[str | None, str]]:
    if not isinstance(node, ast.DropStmt) or getattr(node.removeType, "name", "") != "OBJECT_INDEX":
        return set()
    names = set()
    for parts in node.objects or ():
        words = [part.sval for part in parts if isinstance(part, ast.String)]
        names.add((words[0], words[1]) if len(words) == 2 else (None, words[-1]))
    return names


def _needs_no_concurrently(rule: str, body: Body, line: int, upgrade: Body | None) -> bool:
    """squawk asks for CONCURRENTLY on indexes of tables that only this revision touches: built
    in the same body as their table, or dropped by the rollback of the revision that built both
    (the table goes with them)."""
    statement = _statement_at(body, line)
    if rule == "require-concurrent-index-creation" and isinstance(statement, ast.IndexStmt):
        relation = statement.relation
        return (relation.schemaname, statement.idxname) in _indexes_of_new_tables(body)
    if rule == "require-concurrent-index-deletion" and upgrade is not None:
        dropped = _dropped_indexes(statement)
        return bool(dropped) and dropped <= _indexes_of_new_tables(upgrade)
    return False


def _creators(graph: RevisionGraph) -> dict[tuple[str, str], str]:
    """Which revision first creates each schema-qualified object."""
    creators: dict[tuple[str, str], str] = {}
    for revision in graph.in_order(graph.revisions):
        body = graph[revision].bodies.get("UPGRADE")
        if body is None:
            continue
        try:
            statements = sql.parse(body.text)
        except sql.SqlError:
            continue
        for raw in statements:
            for name in _created(raw.stmt):
                creators.setdefault(name, revision)
    return creators


def _squawk(
    bodies: list[Body], pg_version: str, excluded: tuple[str, ...], upgrades: dict[str, Body]
) -> list[Finding]:
    if not bodies:
        return []
    squawk = Path(sys.executable).parent / "squawk"
    with tempfile.TemporaryDirectory(prefix="migrator-lint-") as folder:
        files = {}
        for number, body in enumerate(bodies):
            path = Path(folder) / f"{number:05d}.sql"
            path.write_text(body.text)
            files[str(path)] = body
        result = subprocess.run(
            [
                str(squawk),
                "--reporter",
                "json",
                "--pg-version",
                pg_version,
                "--exclude",
                ",".join(excluded),
                *files,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        reported = json.loads(result.stdout or "[]")
    except json.JSONDecodeError as error:
        raise LintError(f"squawk failed: {result.stderr.strip() or result.stdout[:300]}") from error
    findings = []
    for item in reported:
        body = files[item["file"]]
        upgrade = upgrades.get(body.revision)
        if _needs_no_concurrently(item["rule_name"], body, int(item["line"]) + 1, upgrade):
            continue
        findings.append(
            Finding(
                rule=item["rule_name"],
                severity="error" if item.get("level") == "Error" else "warning",
                path=body.path,
                line=body.first_line + int(item["line"]),
                revision=body.revision,
                message=f"{body.name}: {item['message']}",
                help=item.get("help"),
            )
        )
    return findings
