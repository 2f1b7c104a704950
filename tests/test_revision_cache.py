"""The revision cache: unchanged files are not read again, and no edit is ever missed."""

from __future__ import annotations

import marshal
import os
import shutil
from pathlib import Path

import pytest

from migrator.model import cache
from migrator.model import revision as revision_model
from migrator.model.graph import RevisionGraph

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(PROJECT_ROOT / "services", tmp_path / "services")
    return tmp_path


def _forbid_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: Path) -> None:
        raise AssertionError(f"{path} was read although it is unchanged")

    monkeypatch.setattr(revision_model, "read", refuse)


def _age(path: Path, seconds: float = 60) -> None:
    """Make a file look written a while ago, as a file from git is."""
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns - int(seconds * 1e9)))


def test_an_unchanged_history_comes_from_the_cache_whole(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in revision_model.revision_files(project):
        _age(path)
    first = RevisionGraph.load(project)
    assert cache.cache_path(project).exists()
    _forbid_reading(monkeypatch)
    second = RevisionGraph.load(project)
    assert second.in_order(second.revisions) == first.in_order(first.revisions)
    for rev, revision in first.revisions.items():
        again = second.revisions[rev]
        for direction in ("upgrade", "downgrade"):
            assert again.checksum(direction) == revision.checksum(direction)
            assert again.steps(direction) == revision.steps(direction)
            assert [s.canonical for step in again.steps(direction) for s in step.statements] == [
                s.canonical for step in revision.steps(direction) for s in step.statements
            ]
        assert again.legacy_checksum == revision.legacy_checksum
        assert (again.header, again.settings, again.phase) == (
            revision.header,
            revision.settings,
            revision.phase,
        )


def test_an_edit_of_the_same_length_in_the_same_instant_is_read_again(project: Path) -> None:
    [path] = (project / "services" / "crm" / "versions").glob("20240412_004_*.py")
    text = path.read_text()
    path.write_text(text)  # just written, as by an editor
    status = path.stat()
    before = RevisionGraph.load(project)["20240412_004"].checksum("upgrade")
    edited = text.replace("lower(email)", "upper(email)", 1)
    assert edited != text and len(edited) == len(text)
    path.write_text(edited)
    # The kernel's clock tick is coarse: a second write may carry the same time.
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    after = RevisionGraph.load(project)["20240412_004"].checksum("upgrade")
    assert after != before


def test_a_changed_file_is_read_again_and_the_rest_are_not(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in revision_model.revision_files(project):
        _age(path)
    RevisionGraph.load(project)
    [path] = (project / "services" / "crm" / "versions").glob("20240412_004_*.py")
    path.write_text(path.read_text().replace("lower(email)", "lower(email), id", 1))
    read_again: list[Path] = []
    original = revision_model.read

    def counting(file: Path) -> revision_model.Revision:
        read_again.append(file)
        return original(file)

    monkeypatch.setattr(revision_model, "read", counting)
    graph = RevisionGraph.load(project)
    assert read_again == [path]
    assert "lower(email), id" in graph["20240412_004"].upgrade[0].body


def test_a_cache_that_cannot_be_written_or_read_costs_only_the_reading(project: Path) -> None:
    folder = project / cache.FOLDER
    folder.write_text("not a folder")  # the cache cannot be written
    assert len(RevisionGraph.load(project).revisions) > 40
    folder.unlink()
    folder.mkdir()
    cache.cache_path(project).write_bytes(b"\x00garbage")
    assert len(RevisionGraph.load(project).revisions) > 40


def test_an_entry_of_another_shape_under_the_current_digest_is_read_again(
    project: Path,
) -> None:
    for path in revision_model.revision_files(project):
        _age(path)
    expected = len(RevisionGraph.load(project).revisions)
    stored = marshal.loads(cache.cache_path(project).read_bytes())
    digest, entries = stored
    shortened = {key: (*entry[:3], entry[3][:-1]) for key, entry in entries.items()}
    cache.cache_path(project).write_bytes(marshal.dumps((digest, shortened)))

    assert len(RevisionGraph.load(project).revisions) == expected
