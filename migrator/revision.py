"""What a revision file calls from its `upgrade()` and `downgrade()`: `run_sql` and `backfill`.

The revision model reads these calls from the file (`migrator.model.revision`), and that is
what runs: applying a revision (by `migrate` or plain `alembic`) executes the steps the model
read, without calling these functions. Alembic calls them only when it writes SQL (`--sql`),
and then they write the declared step out; a call the file does not declare is refused.

    def upgrade() -> None:
        run_sql(UPGRADE)  # e.g. ADD COLUMN email_normalized
        backfill(
            "crm.customers",
            set="email_normalized = lower(email)",
            where="email_normalized IS NULL",
            batch_size=5000,
            validate_empty="SELECT id FROM crm.customers WHERE email_normalized IS NULL",
        )

`backfill` walks the table by primary key and updates `batch_size` keys per short transaction
with a checkpoint. `pause` sleeps between slices; `target_batch_ms` adapts the slice size to keep
each under that duration. `validate_empty` is a query that must return no row once done;
`validate_count` a `SELECT count(*) ...` whose result must be the same before and after.
"""

from __future__ import annotations

from typing import Any

from alembic import op

from migrator.errors import MigratorError
from migrator.model.revision import BackfillStep
from migrator.run.engine import RUN_ATTRIBUTE


def run_sql(body: str) -> None:
    """Run a revision's SQL body; each statement where PostgreSQL allows it."""
    context = op.get_context()
    _current_run(context).run_sql(context, body)


def backfill(table: str, **options: Any) -> None:
    """Update `table` in keyset batches: `UPDATE table SET <set> WHERE <where>`."""
    context = op.get_context()
    arguments = BackfillStep(table=table, **options).arguments
    _current_run(context).backfill(context, arguments)


def _current_run(context: Any) -> Any:
    run = context.config.attributes.get(RUN_ATTRIBUTE) if context.config else None
    if run is None:
        raise MigratorError(
            "a revision runs outside the migrator's env.py; run it with `migrate up` or "
            "`alembic upgrade` from the project"
        )
    return run
