"""The one object a command is handed: settings, the target database, the revision graph and
where events go.

Commands used to take settings, URL, graph and event sink as separate parameters, each module
resolving the URL (and so starting the embedded server) on its own. A Context resolves each once,
when first needed: the graph is read only by commands that need it, and the embedded server
starts only when a command needs the database and none is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator import config, database, urls
from migrator.config import Settings
from migrator.events import EventSink, log_event
from migrator.model.graph import RevisionGraph
from migrator.ops import embedded

if TYPE_CHECKING:
    import psycopg
    from alembic.config import Config
    from sqlalchemy import Connection
    from sqlalchemy.engine import URL


@dataclass
class Context:
    settings: Settings
    events: EventSink = log_event
    _url: urls.Url | None = field(default=None, repr=False)
    _graph: RevisionGraph | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        *,
        project: Path | None = None,
        database_url: str | None = None,
        environment: str | None = None,
        engine_flags: dict[str, Any] | None = None,
        events: EventSink = log_event,
        graph: RevisionGraph | None = None,
    ) -> Context:
        """Settings from flags, environment and pyproject; nothing is started yet. `graph`:
        one already read from the same project, shared instead of read again."""
        settings = config.load_settings(
            project=project,
            database_url=database_url,
            environment=environment,
            engine_flags=engine_flags,
        )
        return cls(settings, events, _graph=graph)

    @property
    def database_url(self) -> urls.Url:
        """The database to work on: the configured one, or the embedded server's (started
        when not running)."""
        if self._url is None:
            if self.settings.database_url is not None:
                self._url = self.settings.database_url
            else:
                pgdata = embedded.data_dir(self.settings.project_root)
                server = embedded.start(pgdata)
                created = embedded.ensure_database(
                    server, self.settings.embedded_database, self.settings.tool_schema
                )
                self._url = urls.Url.of(created)
        return self._url

    @property
    def url(self) -> URL:
        """The database to work on, as SQLAlchemy names it (for what works through it)."""
        return self.database_url.sqlalchemy()

    @property
    def graph(self) -> RevisionGraph:
        if self._graph is None:
            self._graph = RevisionGraph.load(self.settings.project_root)
        return self._graph

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with database.connect(self.url) as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """A plain psycopg connection, for commands that only read: they start without
        SQLAlchemy."""
        with database.reading(self.database_url) as connection:
            yield connection

    def heads(self) -> tuple[str, ...]:
        """The revisions the database's version table records as its heads."""
        with self.reading() as connection:
            return database.recorded_heads(connection, self.settings.tool_schema)

    def alembic_config(self) -> Config:
        return config.alembic_config(self.settings)

    def on(self, url: URL, events: EventSink | None = None) -> Context:
        """The same project and graph, working on another database (a scratch copy)."""
        target = urls.Url.of(url)
        settings = replace(self.settings, database_url=target)
        return Context(settings, events or self.events, target, self._graph)
