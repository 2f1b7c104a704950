"""One function per command, returning data (Alembic's `command.py` is the model): reading
(status, history, validate, plan, verify, health, drift, metrics, lint), writing (up, down,
repair, restore, backup, dev reset) and authoring (new, deps, plain SQL in and out)."""
