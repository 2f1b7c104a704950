"""Guard rails for revision files: where they sit, how they are named, what their header says.

Alembic accepts any file that defines `revision`; the platform relies on more: the file sits in
its own service's folder and is named `{YYYYMMDD}_{NNN}_{service}_{description}.py` after its
id, its header (read by people and by `export-sql`) agrees with the code, and no id repeats
(Alembic would silently keep one of two files). The files are read with Python's own parser,
never imported, so a broken file is reported rather than crashing the check.
"""

from __future__ import annotations

import ast
import datetime
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.errors import UsageError
from migrator.model import services

HEADER_FIELDS = ("Migration", "Service", "Author", "Date", "Dependencies")


@dataclass(frozen=True)
class RevisionFile:
    """What a revision file declares, read without running it."""

    path: Path
    folder_service: str
    revision: str | None
    down_revision: Any
    depends_on: tuple[str, ...]
    header: dict[str, str]


def read(path: Path) -> RevisionFile:
    tree = ast.parse(path.read_text(), filename=str(path))
    values: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    values[target.id] = None
    depends = values.get("depends_on") or ()
    return RevisionFile(
        path=path,
        folder_service=path.parent.parent.name,
        revision=values.get("revision"),
        down_revision=values.get("down_revision"),
        depends_on=(depends,) if isinstance(depends, str) else tuple(depends),
        header=parse_header(ast.get_docstring(tree) or ""),
    )


def parse_header(docstring: str) -> dict[str, str]:
    """`Key: value` lines of the header, for the known keys."""
    header = {}
    for line in docstring.splitlines():
        key, separator, value = line.partition(":")
        if separator and key.strip() in HEADER_FIELDS:
            header[key.strip()] = value.strip()
    return header


def revision_files(project_root: Path) -> list[Path]:
    return sorted(
        path
        for path in (project_root / "services").glob("*/versions/*.py")
        if not path.name.startswith("__")
    )


def problems_by_file(project_root: Path) -> dict[Path, list[str]]:
    """Every way each revision file breaks the house rules; a repeated id counts against
    every file that carries it."""
    found: dict[Path, list[str]] = defaultdict(list)
    by_id: dict[str, list[Path]] = defaultdict(list)
    files = []
    for path in revision_files(project_root):
        try:
            files.append(read(path))
        except SyntaxError as error:
            found[path].append(f"does not parse as Python: {error}")
    service_of = {f.revision: f.folder_service for f in files if f.revision}
    for file in files:
        if file.revision:
            by_id[file.revision].append(file.path)
        found[file.path] += _file_problems(file, service_of)
    for revision, paths in by_id.items():
        if len(paths) > 1:
            names = ", ".join(str(p.relative_to(project_root)) for p in paths)
            for path in paths:
                found[path].append(f"revision id {revision} is used by {len(paths)} files: {names}")
    return {path: problems for path, problems in found.items() if problems}


def problems(project_root: Path) -> list[str]:
    """Every way the revision files break the house rules, one line each."""
    return [
        f"{path.name}: {problem}"
        for path, found in sorted(problems_by_file(project_root).items())
        for problem in found
    ]


def _file_problems(file: RevisionFile, service_of: dict[str, str]) -> list[str]:
    found = []
    try:
        folder = services.resolve(file.folder_service)
    except UsageError:
        return [f"sits in services/{file.folder_service}, which is not a service"]
    if not file.revision:
        return ["defines no revision id"]
    expected_prefix = f"{file.revision}_{folder.name}_"
    if not (
        file.path.name.startswith(expected_prefix) and len(file.path.stem) > len(expected_prefix)
    ):
        found.append(
            f"is not named {{revision}}_{{service}}_{{description}}.py; expected "
            f"{expected_prefix}<description>.py"
        )
    if not is_house_id(file.revision):
        found.append(f"revision id {file.revision!r} is not YYYYMMDD_NNN (a real date)")
    missing = [field for field in HEADER_FIELDS if not file.header.get(field)]
    if missing:
        found.append(f"header lacks {', '.join(missing)}")
    declared = file.header.get("Service")
    if declared:
        try:
            if services.resolve(declared) != folder:
                found.append(
                    f"header says Service: {declared} but the file sits in {folder.name}'s folder"
                )
        except UsageError:
            found.append(f"header names an unknown service {declared!r}")
    dependencies = file.header.get("Dependencies")
    if dependencies:
        try:
            listed = json.loads(dependencies)
        except json.JSONDecodeError:
            listed = None
        if not isinstance(listed, list) or sorted(listed) != sorted(file.depends_on):
            found.append(
                f"header says Dependencies: {dependencies} but depends_on is "
                f"{json.dumps(sorted(file.depends_on))}"
            )
    for parent in _as_tuple(file.down_revision):
        owner = service_of.get(parent)
        if owner is not None and owner != folder.name:
            found.append(
                f"down_revision {parent} belongs to {owner}; a service's revisions chain within "
                "its own folder (use depends_on for other services)"
            )
    return found


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def is_house_id(revision: str | None) -> bool:
    """`YYYYMMDD_NNN` with a real date."""
    date, _, number = (revision or "").partition("_")
    if not (len(number) == 3 and number.isdigit() and len(date) == 8 and date.isdigit()):
        return False
    try:
        datetime.datetime.strptime(date, "%Y%m%d")
    except ValueError:
        return False
    return True
