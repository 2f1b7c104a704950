"""The views of lint findings and plans that other programs read: GitHub's workflow commands
and SARIF for findings, Markdown for a plan posted on a pull request.

Each renders the same data the text and `--json` views render (the lint report's findings, the
one Plan), so a pull request shows what a terminal shows. File paths are relative to the
project's root, the folder of alembic.ini, as the text view prints them.
"""

from __future__ import annotations

import itertools
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from migrator import __version__, units
from migrator.errors import UsageError
from migrator.model import render

if TYPE_CHECKING:
    from migrator.checks.impact import EstimatedStatement, RevisionImpact
    from migrator.checks.lint import Finding
    from migrator.model.plan import Plan


class LintFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    GITHUB = "github"
    SARIF = "sarif"


class PlanFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


LintFormatOption = Annotated[
    LintFormat,
    typer.Option(
        "--format",
        help="text; json (also --json); github: workflow commands a GitHub runner shows as "
        "annotations; sarif: SARIF 2.1.0 for code scanning.",
    ),
]
PlanFormatOption = Annotated[
    PlanFormat,
    typer.Option(
        "--format", help="text; json (also --json); markdown: for a pull request's comment."
    ),
]

F = TypeVar("F", LintFormat, PlanFormat)


def chosen(given: F, json_output: bool) -> F:
    """The format asked for, `--json` being the older spelling of `--format json`."""
    if not json_output:
        return given
    if given not in (type(given).TEXT, type(given).JSON):
        raise UsageError(f"--json and --format {given} disagree; give one of them")
    return type(given).JSON


def _data(text: str) -> str:
    """A workflow command's message: the runner reads %, CR and LF as escapes and line ends."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A workflow command's property value: also no ':' or ',', which end the property."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _message(finding: Finding) -> str:
    """What a finding says, without its place (the annotation or result carries that)."""
    hint = f"; {finding.help}" if finding.help else ""
    return f"revision {finding.revision}: {finding.message}{hint}"


def github_annotations(findings: list[Finding], root: Path) -> list[str]:
    """One `::error` or `::warning` workflow command per finding that counts; findings
    accepted in writing are left out, or every pull request would repeat them."""
    lines = []
    for finding in findings:
        if not finding.counts:
            continue
        properties = ",".join(
            f"{name}={_property(value)}"
            for name, value in (
                ("file", str(finding.path.relative_to(root))),
                ("line", str(finding.line)),
                ("title", finding.rule),
            )
        )
        lines.append(f"::{finding.severity} {properties}::{_data(_message(finding))}")
    return lines


def sarif(findings: list[Finding], root: Path) -> dict[str, Any]:
    """The findings as a SARIF 2.1.0 log of one run, for code scanning; an accepted finding is
    a suppressed result carrying its written reason."""
    from migrator.checks.lint import HOUSE_RULES, rule_page

    names = sorted({finding.rule for finding in findings})
    rules = []
    for name in names:
        house = HOUSE_RULES.get(name)
        rule: dict[str, Any] = {
            "id": name,
            "shortDescription": {"text": house.what if house else f"squawk rule {name}"},
        }
        if house:
            rule["fullDescription"] = {"text": house.why}
            rule["help"] = {"text": house.instead}
            rule["defaultConfiguration"] = {"level": house.severity}
        page = rule_page(name)
        if page:
            rule["helpUri"] = page
        rules.append(rule)
    results = []
    for finding in findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule,
            "ruleIndex": names.index(finding.rule),
            "level": finding.severity,
            "message": {"text": _message(finding)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": finding.path.relative_to(root).as_posix(),
                            "uriBaseId": "%SRCROOT%",
                        },
                        "region": {"startLine": finding.line},
                    }
                }
            ],
        }
        if finding.accepted:
            result["suppressions"] = [{"kind": "external", "justification": finding.accepted}]
        results.append(result)
    driver = {"name": "migrate lint", "version": __version__, "rules": rules}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so SQL cannot close it."""
    runs = (len(list(run)) for char, run in itertools.groupby(text) if char == "`")
    longest = max(runs, default=0)
    return "`" * max(3, longest + 1)


def plan_markdown(
    plan: Plan, policy: str, approve: str, impacts: list[RevisionImpact] | None = None
) -> str:
    """The plan for a pull request's comment: its hash, the environment's policy, then each
    revision with its service, file and direction, the statements it runs and their impact."""
    lines = [
        f"### Migration plan `{plan.hash}`",
        "",
        f"{plan.summary()}",
        "",
        f"Policy: {policy}.",
    ]
    for number, item in enumerate(plan.items, start=1):
        revision = item.revision
        phase = f", {revision.phase} phase" if revision.phase else ""
        lines += [
            "",
            f"#### {number}. `{revision.id}` ({revision.service.name}): {revision.title}",
            "",
            f"`{revision.location}`, {item.direction}{phase}",
            "",
        ]
        sql = []
        for entry in render.entries(item):
            if entry.comment:
                sql.append(f"-- {entry.comment}")
            place = f"{revision.location}:{entry.statement.line}"
            sql.append(f"-- {place}, {render.where(entry.statement)}")
            sql.append(entry.statement.text + ";")
        if not sql:
            lines.append(f"No statements in its {item.direction}.")
            continue
        fence = _fence("\n".join(sql))
        lines += [f"{fence}sql", *sql, fence]
        if impacts:
            found = impacts[number - 1]
            lines += ["", f"Impact: **{impact_summary(found)}**", ""]
            lines += [f"- {impact_statement(statement)}" for statement in found.statements]
    lines += ["", f"Approve it with `{approve}`."]
    return "\n".join(lines) + "\n"


def impact_summary(revision: RevisionImpact) -> str:
    """`blocks writes: strongest lock SHARE, held ~2.1 s`."""
    seconds = revision.longest_lock_seconds
    held = "for an unknown time" if seconds is None else f"~{units.duration(seconds * 1000)}"
    if revision.strongest_lock is None:
        return f"{revision.verdict}: no table lock"
    return f"{revision.verdict}: strongest lock {revision.strongest_lock}, held {held}"


def impact_statement(statement: EstimatedStatement) -> str:
    """One statement's impact on one line: its locks, its work on which tables of what size,
    how long it should take, and why."""
    impact = statement.impact
    locks = ", ".join(f"{lock.mode} on {lock.table}" for lock in impact.locks) or "no table lock"
    sizes = {size.table: size for size in statement.sizes}
    worked = [
        f"{table} ({units.size(sizes[table].bytes)}, {sizes[table].rows:,} rows)"
        if table in sizes
        else f"{table} (size unknown)"
        for table in impact.worked_tables
    ]
    work = f"{impact.work} of {', '.join(worked)}" if worked else impact.work
    estimate = "unknown" if statement.seconds is None else units.duration(statement.seconds * 1000)
    reason = f": {impact.reason}" if impact.reason else ""
    return f"{impact.kind}: {locks}; {work}; estimate {estimate}{reason}"
