"""Revisions as last read, so that a long history is not parsed again on every command.

Reading 1,000 revision files with Python's parser and splitting their SQL with PostgreSQL's
takes about a second; a command that only shows where things stand, or applies the three new
revisions of the day, should not pay it. Each file's revision is kept with the file's size and
modification time, as Python keeps its bytecode: an entry is used only while both are
unchanged, and the rest are read again. A file written in the same instant as its entry
(timestamps are only as fine as the kernel's clock tick) is also checked by content, so a quick
edit of the same length is never missed. The key also holds a digest of the code that reads
files, so a change to the reader or the SQL parser starts afresh.

The cache holds only plain values, written with `marshal`: loading it runs no code, unlike
the revision files, which the tool never runs either. It lives in the project's git-ignored
`.migrator` folder; when that cannot be written, every command still works, reading the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import marshal
import os
import time
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

from migrator.model import revision as revision_model
from migrator.model import services
from migrator.model import statement as statement_model
from migrator.model.revision import (
    BackfillStep,
    Body,
    Revision,
    RevisionFileError,
    RevisionSettings,
    SqlStep,
    Step,
)

FOLDER = ".migrator"
FILE_NAME = "revisions.cache"
# A file modified this close to when its entry is written may change again within the same
# timestamp; such entries are checked by content.
_RACY_SECONDS = 2.0


def cache_path(project_root: Path) -> Path:
    return project_root / FOLDER / FILE_NAME


def read_all(
    project_root: Path, on_error: Callable[[Path, RevisionFileError], None] | None = None
) -> list[Revision]:
    """Every revision of the project, as `revision.read_all` gives them, from the cache where
    the file is unchanged."""
    stored = _load(project_root)
    fresh: dict[str, Any] = {}
    found: list[Revision] = []
    for path in revision_model.revision_files(project_root):
        key = str(path)
        try:
            status = path.stat()
        except OSError:
            status = None
        entry = stored.get(key)
        cached = _cached(entry, path, status) if status is not None else None
        if cached is not None:
            found.append(cached)
            fresh[key] = entry
            continue
        try:
            revision = revision_model.read(path)
        except RevisionFileError as error:
            if on_error is None:
                raise
            on_error(path, error)
            continue
        found.append(revision)
        if status is not None:
            fresh[key] = _entry(path, status, revision)
    if fresh != stored:
        _save(project_root, fresh)
    return found


def _cached(entry: Any, path: Path, status: os.stat_result) -> Revision | None:
    """The revision an entry holds when its file is unchanged. An entry of another shape
    (written by a process still running the code from before an upgrade, under the digest of
    the files now on disk) is no answer: the file is read again, never a crash."""
    if entry is None:
        return None
    try:
        return _revision(path, entry[3]) if _still_valid(entry, path, status) else None
    except (ValueError, TypeError, IndexError):
        return None


def _still_valid(entry: tuple, path: Path, status: os.stat_result) -> bool:
    size, mtime_ns, digest, _ = entry
    if (size, mtime_ns) != (status.st_size, status.st_mtime_ns):
        return False
    return digest is None or digest == _digest(path)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return None


def _entry(path: Path, status: os.stat_result, revision: Revision) -> tuple:
    racy = time.time() - status.st_mtime_ns / 1e9 < _RACY_SECONDS
    return (
        status.st_size,
        status.st_mtime_ns,
        _digest(path) if racy else None,
        _values(revision),
    )


def _reader_digest() -> str:
    """What the cache's entries depend on besides the files: the code that reads them and the
    parser's version."""
    digest = hashlib.blake2b(digest_size=16)
    for module in (revision_model, statement_model, services):
        digest.update(Path(module.__file__ or "").read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update((Path(__file__).parent / "sql.py").read_bytes())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        digest.update(importlib.metadata.version("pglast").encode())
    return digest.hexdigest()


def _load(project_root: Path) -> dict[str, Any]:
    try:
        stored = marshal.loads(cache_path(project_root).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(stored, tuple) or len(stored) != 2 or stored[0] != _reader_digest():
        return {}
    return stored[1]


def _save(project_root: Path, entries: dict[str, Any]) -> None:
    """Write the cache whole and move it into place, so a reader never sees half of it; a
    folder that cannot be written only costs the next command the reading."""
    target = cache_path(project_root)
    with contextlib.suppress(OSError):
        target.parent.mkdir(exist_ok=True)
        ignore = target.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        partial = target.with_name(f"{FILE_NAME}.{os.getpid()}")
        partial.write_bytes(marshal.dumps((_reader_digest(), entries)))
        os.replace(partial, target)


def _values(revision: Revision) -> tuple:
    """The revision as plain values, its SQL split and its checksums computed."""
    return (
        revision.id,
        revision.service.name,
        revision.down_revisions,
        revision.dependencies,
        revision.branch_labels,
        revision.doc,
        revision.header,
        revision.phase,
        astuple(revision.settings),
        revision.lint_accept,
        {name: (body.text, body.first_line) for name, body in revision.bodies.items()},
        tuple(_step_values(step) for step in revision.upgrade),
        tuple(_step_values(step) for step in revision.downgrade),
        {direction: revision.checksum(direction) for direction in revision_model.DIRECTIONS},
        revision.replaces,
    )


def _step_values(step: Step) -> tuple:
    if isinstance(step, BackfillStep):
        return ("backfill", step.line, step.arguments)
    statements = tuple(statement.values() for statement in step.statements)
    return (
        "sql",
        step.body,
        step.first_line,
        step.line,
        statements,
        step.problem,
        step.problem_line,
    )


def _revision(path: Path, values: tuple) -> Revision:
    (
        revision_id,
        service,
        down_revisions,
        dependencies,
        branch_labels,
        doc,
        header,
        phase,
        settings,
        lint_accept,
        bodies,
        upgrade,
        downgrade,
        checksums,
        replaces,
    ) = values
    revision = Revision(
        id=revision_id,
        path=path,
        service=services.resolve(service),
        down_revisions=down_revisions,
        dependencies=dependencies,
        branch_labels=branch_labels,
        doc=doc,
        header=header,
        phase=phase,
        settings=RevisionSettings(*settings),
        lint_accept=lint_accept,
        bodies={name: Body(name, text, line) for name, (text, line) in bodies.items()},
        upgrade=tuple(map(_step, upgrade)),
        downgrade=tuple(map(_step, downgrade)),
        replaces=replaces,
    )
    revision.__dict__["_checksums"] = checksums
    return revision


def _step(values: tuple) -> Step:
    if values[0] == "backfill":
        _, line, arguments = values
        return BackfillStep(**arguments, line=line)
    _, body, first_line, line, *known = values
    return SqlStep(body, first_line, line, known=tuple(known))
