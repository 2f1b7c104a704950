"""Guard rails for revision files: where they sit, how they are named, what their header says.

Alembic accepts any file that defines `revision`; the platform relies on more: the file sits in
its own service's folder and is named `{YYYYMMDD}_{NNN}_{service}_{description}.py` after its
id, its header (read by people and by `export-sql`) agrees with the code, and no id repeats
(Alembic would silently keep one of two files). The files are read by the revision model,
never imported, so a broken file is reported rather than crashing the check.
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from pathlib import Path

from migrator.errors import UsageError
from migrator.model import cache, services
from migrator.model import revision as revision_model
from migrator.model.revision import Revision


def problems_by_file(project_root: Path) -> dict[Path, list[str]]:
    """Every way each revision file breaks the house rules; a repeated id counts against
    every file that carries it."""
    found: dict[Path, list[str]] = defaultdict(list)
    by_id: dict[str, list[Path]] = defaultdict(list)

    def unreadable(path: Path, error: revision_model.RevisionFileError) -> None:
        where = f"line {error.line}: " if error.line is not None else ""
        found[path].append(where + error.reason)

    revisions = cache.read_all(project_root, on_error=unreadable)
    service_of = {revision.id: revision.service.name for revision in revisions}
    for revision in revisions:
        by_id[revision.id].append(revision.path)
        found[revision.path] += _file_problems(revision, service_of)
    for rev, paths in by_id.items():
        if len(paths) > 1:
            names = ", ".join(str(p.relative_to(project_root)) for p in paths)
            for path in paths:
                found[path].append(f"revision id {rev} is used by {len(paths)} files: {names}")
    return {path: problems for path, problems in found.items() if problems}


def problems(project_root: Path) -> list[str]:
    """Every way the revision files break the house rules, one line each."""
    return [
        f"{path.name}: {problem}"
        for path, found in sorted(problems_by_file(project_root).items())
        for problem in found
    ]


def _file_problems(revision: Revision, service_of: dict[str, str]) -> list[str]:
    found = []
    folder = revision.service
    expected_prefix = f"{revision.id}_{folder.name}_"
    if not (
        revision.path.name.startswith(expected_prefix)
        and len(revision.path.stem) > len(expected_prefix)
    ):
        found.append(
            f"is not named {{revision}}_{{service}}_{{description}}.py; expected "
            f"{expected_prefix}<description>.py"
        )
    if not is_house_id(revision.id):
        found.append(f"revision id {revision.id!r} is not YYYYMMDD_NNN (a real date)")
    missing = [field for field in revision_model.HEADER_FIELDS if not revision.header.get(field)]
    if missing:
        found.append(f"header lacks {', '.join(missing)}")
    declared = revision.header.get("Service")
    if declared:
        try:
            if services.resolve(declared) != folder:
                found.append(
                    f"header says Service: {declared} but the file sits in {folder.name}'s folder"
                )
        except UsageError:
            found.append(f"header names an unknown service {declared!r}")
    dependencies = revision.header.get("Dependencies")
    if dependencies:
        try:
            listed = json.loads(dependencies)
        except json.JSONDecodeError:
            listed = None
        if not isinstance(listed, list) or sorted(listed) != sorted(revision.dependencies):
            found.append(
                f"header says Dependencies: {dependencies} but depends_on is "
                f"{json.dumps(sorted(revision.dependencies))}"
            )
    for parent in revision.down_revisions:
        owner = service_of.get(parent)
        if owner is not None and owner != folder.name:
            found.append(
                f"down_revision {parent} belongs to {owner}; a service's revisions chain within "
                "its own folder (use depends_on for other services)"
            )
    return found


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
