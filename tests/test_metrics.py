"""`migrate metrics`, read back with prometheus-client's own parser."""

from __future__ import annotations

from pathlib import Path

from conftest import platform_graph, run_migrate
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import URL

from migrator.model import services


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_applied_and_pending_revisions_and_time_the_runs(database_url: URL) -> None:
    run_migrate("up", "--service", "erp", url=database_url)

    result = run_migrate("metrics", url=database_url)
    samples = _samples(result.stdout)

    erp = len(platform_graph().branch(services.resolve("erp")))
    crm = len(platform_graph().branch(services.resolve("crm")))
    assert result.exit_code == 0
    assert samples[("migrator_revisions_applied", (("service", "erp"),))] == erp
    assert samples[("migrator_revisions_pending", (("service", "erp"),))] == 0
    assert samples[("migrator_revisions_pending", (("service", "crm"),))] == crm
    assert samples[("migrator_last_run_success", (("service", "erp"),))] == 1
    assert samples[("migrator_last_run_duration_seconds", (("service", "erp"),))] > 0
    count = (
        "migrator_revision_duration_seconds_count",
        (("direction", "upgrade"), ("outcome", "success"), ("service", "erp")),
    )
    assert samples[count] == erp


def test_metrics_textfile_is_written_whole(database_url: URL, tmp_path: Path) -> None:
    run_migrate("up", "--service", "auth", url=database_url)
    target = tmp_path / "migrator.prom"

    result = run_migrate("metrics", "--textfile", str(target), url=database_url)

    assert result.exit_code == 0
    samples = _samples(target.read_text())
    assert samples[("migrator_revisions_pending", (("service", "auth"),))] == 0
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind
