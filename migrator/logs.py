"""Structured logs: one line per engine event, as text or JSON, for log shippers.

Every line carries the time, the event's name, the run it belongs to, the environment and,
where the event concerns a revision, the revision and its service, besides the event's own
fields (duration, rows, SQLSTATE, the statement's first line...). Messages were scrubbed of
passwords where they were made; the URL itself is never part of an event.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from migrator.config import refuse_unwritable_file
from migrator.events import Event, RunStarted

FORMATS = ("text", "json")


def _event_name(event: Event) -> str:
    """`StepFinished` -> `step_finished`: a class name, not SQL."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()


def refuse_unwritable(target: Path) -> None:
    """Refuse a --log-file the tool could not append to, before the command starts: a log
    line that cannot be written would otherwise stop a migration halfway."""
    refuse_unwritable_file(target, "--log-file (MIGRATE_LOG_FILE)")


class LogLines:
    """An event sink writing one line per event to a stream."""

    def __init__(
        self,
        target: Path | None,
        log_format: str,
        environment: str,
        service_of: Callable[[str], str | None],
    ) -> None:
        self.target = target
        self.log_format = log_format
        self.environment = environment
        self.service_of = service_of
        self.run_id: str | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_id = event.run_id
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        if self.log_format == "text":
            line = f"{now} {self.environment} {_event_name(event)} {event.describe()}"
        else:
            record = {
                "timestamp": now,
                "event": _event_name(event),
                "run_id": self.run_id,
                "environment": self.environment,
                **asdict(event),
            }
            revision = record.get("revision")
            if revision and not record.get("service"):
                record["service"] = self.service_of(revision)
            record.setdefault("message", event.describe())
            line = json.dumps(record, default=str)
        if self.target is None:
            print(line, file=sys.stderr, flush=True)
        else:  # appended whole, line by line, so that a tail -f never sees half an event
            with self.target.open("a") as stream:
                stream.write(line + "\n")


def tee(*sinks: Callable[[Event], None]) -> Callable[[Event], None]:
    def send(event: Event) -> None:
        for sink in sinks:
            sink(event)

    return send
