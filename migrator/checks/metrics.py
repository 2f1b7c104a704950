"""Metrics in the Prometheus text format, read from the version table and the history.

A node exporter's textfile collector (or any scraper of `migrate metrics`) then shows, per
service: revisions applied and pending, how the last run went and how long it took, and how
long revisions take to apply, as histograms. The numbers are derived each time from what the
database records, so there is no state to lose between runs.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client import write_to_textfile as _write_to_textfile
from sqlalchemy import Connection

from migrator.config import Settings
from migrator.database import database_heads
from migrator.errors import MigratorError
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.run import history

# Seconds: revisions take from milliseconds (DDL on empty tables) to hours (big backfills).
_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


def registry_for(
    connection: Connection, settings: Settings, graph: RevisionGraph
) -> CollectorRegistry:
    """A registry holding the metrics of one database, as of now."""
    registry = CollectorRegistry()
    applied_gauge = Gauge(
        "migrator_revisions_applied",
        "Revisions applied, per service.",
        ["service"],
        registry=registry,
    )
    pending_gauge = Gauge(
        "migrator_revisions_pending",
        "Revisions not yet applied, per service.",
        ["service"],
        registry=registry,
    )
    last_duration = Gauge(
        "migrator_last_run_duration_seconds",
        "Total duration of the last run that touched the service.",
        ["service"],
        registry=registry,
    )
    last_success = Gauge(
        "migrator_last_run_success",
        "1 when the last run that touched the service succeeded, else 0.",
        ["service"],
        registry=registry,
    )
    last_time = Gauge(
        "migrator_last_run_timestamp_seconds",
        "When the last run that touched the service finished (Unix time).",
        ["service"],
        registry=registry,
    )
    durations = Histogram(
        "migrator_revision_duration_seconds",
        "How long each attempt to apply or roll back a revision took.",
        ["service", "direction", "outcome"],
        buckets=_BUCKETS,
        registry=registry,
    )

    for row in graph.status(database_heads(connection, settings)):
        name = row.service.name
        applied_gauge.labels(name).set(len(graph.branch(row.service)) - len(row.pending))
        pending_gauge.labels(name).set(len(row.pending))

    rows = history.read(connection, settings.tool_schema, limit=1_000_000)
    runs: dict[str, dict[str, list[history.Row]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.service is None or row.direction not in ("upgrade", "downgrade"):
            continue
        durations.labels(row.service, row.direction, row.outcome).observe(row.duration_ms / 1000)
        runs[row.service][str(row.run_id)].append(row)
    for service in services.SERVICES:
        by_run = runs.get(service.name)
        if not by_run:
            continue
        last = max(by_run.values(), key=lambda attempts: max(r.id for r in attempts))
        last_duration.labels(service.name).set(sum(r.duration_ms for r in last) / 1000)
        last_success.labels(service.name).set(0 if any(r.outcome == "failed" for r in last) else 1)
        last_time.labels(service.name).set(max(r.finished_at for r in last).timestamp())
    return registry


def exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def write_textfile(registry: CollectorRegistry, path: Path) -> None:
    """Written to a temporary file and renamed, as the textfile collector requires."""
    try:
        _write_to_textfile(str(path), registry)
    except OSError as error:  # the folder changed since the option was checked
        raise MigratorError(
            f"cannot write the metrics to {path}: {error.strerror or error}; check the folder "
            "and run `migrate metrics --textfile` again"
        ) from error
