"""How the run's modules send a statement, whichever way it travels.

SQLAlchemy's `Connection.exec_driver_sql` runs it and waits; psycopg's `Connection.execute`
inside a pipeline queues it and returns at once. Both take the statement and its parameters,
so the code that decides what to send (timeouts, history rows, the version table) is written
once for both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Send = Callable[[str, Any], Any]
