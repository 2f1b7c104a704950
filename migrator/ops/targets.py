"""The databases a fleet command works on: named targets, each a URL and the services it hosts.

A service that runs one database per tenant or per site, or a platform with a database per
region, has many databases to migrate alike. They are listed either under
`[tool.migrator.targets.<name>]` in pyproject.toml (with an environment and a group) or in a
targets file, one `name url [service ...]` a line, which a script can write from an inventory.
A URL may say `${VAR}`, read from the environment when the targets are read, so that the
passwords stay in the secret store and out of the files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator import urls
from migrator.config import pyproject_settings
from migrator.errors import UsageError
from migrator.model import services

# `${VAR}` in a URL: a placeholder, not SQL, so a pattern is the right tool here.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Target:
    """One database of the fleet; `services` empty means every service."""

    name: str
    url: urls.Url
    services: tuple[str, ...] = ()
    environment: str | None = None
    group: str | None = None

    @property
    def shown_url(self) -> str:
        return urls.redacted(self.url)


def expand(text: str, target: str) -> str:
    """`${VAR}` replaced by the environment's value; an unset one is bad input naming it."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise UsageError(
                f"target {target}: its URL needs ${{{name}}}, which is not set; export {name} "
                "and run again"
            )
        return os.environ[name]

    return _VARIABLE.sub(value, text)


def _target(name: str, raw_url: str, hosted: list[str], **rest: Any) -> Target:
    try:
        url = urls.parse(expand(raw_url, name))
    except UsageError as error:
        raise UsageError(f"target {name}: {error}") from error
    chosen = tuple(services.resolve(service).name for service in hosted)
    return Target(name, url, chosen, **rest)


def from_file(path: Path) -> list[Target]:
    """A targets file: `name url [service ...]` a line; blank lines and `#` comments skipped."""
    if not path.is_file():
        raise UsageError(f"--targets-file {path}: no such file; write one `name url [service ...]`")
    found: list[Target] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) < 2:
            raise UsageError(f"{path.name} line {number}: expected `name url [service ...]`")
        found.append(_target(words[0], words[1], words[2:]))
    return _unique(found, path.name)


def from_pyproject(root: Path) -> list[Target]:
    """`[tool.migrator.targets.<name>]` tables, in the order the file gives them."""
    defined = pyproject_settings(root).get("targets", {})
    if not isinstance(defined, dict) or not all(isinstance(v, dict) for v in defined.values()):
        raise UsageError(
            "[tool.migrator.targets] in pyproject.toml must hold one table per target, e.g. "
            '[tool.migrator.targets.eu] with url = "${EU_DATABASE_URL}"'
        )
    found = []
    for name, table in defined.items():
        if not isinstance(table.get("url"), str):
            raise UsageError(f'[tool.migrator.targets.{name}] needs url = "..."')
        found.append(
            _target(
                name,
                table["url"],
                list(table.get("services", [])),
                environment=table.get("environment"),
                group=table.get("group"),
            )
        )
    return _unique(found, "pyproject.toml")


def _unique(found: list[Target], source: str) -> list[Target]:
    names = [target.name for target in found]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UsageError(f"{source} names target {repeated[0]} twice; give each target one name")
    return found


def select(root: Path, targets_file: Path | None, group: str | None) -> list[Target]:
    """The fleet a command works on: the file's targets or pyproject's, narrowed to a group."""
    found = from_file(targets_file) if targets_file else from_pyproject(root)
    if group is not None:
        found = [target for target in found if target.group == group]
        if not found:
            raise UsageError(f"no target is in group {group}; check `group = ...` of the targets")
    if not found:
        raise UsageError(
            "no targets: give --targets-file FILE or define [tool.migrator.targets.<name>]"
        )
    return found
