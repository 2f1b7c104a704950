"""Environments as policy: what a run may do, and what it must do first, per environment.

Development wants speed (apply on service start, recreate at will, seed), staging wants proof
(a backup, and the rollback verified before it is needed), production wants control (no
migration without a backup, nothing that was not approved, no `down` without approval). The
defaults are below; `[tool.migrator.environments.<name>]` in pyproject.toml changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from migrator.config import (
    BUILT_IN_ENVIRONMENTS,
    Settings,
    parse_count,
    parse_duration_ms,
    parse_size,
    pyproject_settings,
)
from migrator.errors import MigratorError, UsageError
from migrator.model.plan import Plan
from migrator.ops import windows as maintenance
from migrator.run import history

BACKUP_MODES = ("never", "before_changes", "mandatory")


@dataclass(frozen=True)
class Policy:
    """What one environment allows and requires."""

    name: str
    auto_apply: bool = False  # services may apply pending migrations at start-up
    recreate: bool = False  # `dev reset` may drop and rebuild the database
    seeds: str | None = None  # which seed files load after `up` (None: none)
    backup: str = "never"  # never | before_changes | mandatory
    verify: bool = False  # rollback verified on a scratch database before applying
    approval: bool = False  # `up` needs --approve HASH of the exact plan; `down` needs it too
    # An upgrade that blocks writes on a table above window_threshold_bytes, or holds a lock
    # longer than window_lock_seconds, runs only inside one of these windows...
    windows: tuple[maintenance.Window, ...] = ()
    window_threshold_bytes: int = 0
    window_lock_seconds: float | None = None
    # ... and not while more sessions are active, or more transactions a second commit.
    busy_sessions: int | None = None
    busy_tps: float | None = None

    def describe(self) -> str:
        seeds = f"{self.seeds} seeds" if self.seeds else "no seeds"
        windows = f", windows {', '.join(w.text for w in self.windows)}" if self.windows else ""
        return (
            f"environment {self.name}: backup {self.backup.replace('_', ' ')}, "
            f"{'rollback verified first' if self.verify else 'no verification'}, "
            f"{'approval required' if self.approval else 'no approval'}, {seeds}, "
            f"{'recreation allowed' if self.recreate else 'no recreation'}{windows}"
        )

    @property
    def gates_impact(self) -> bool:
        """Whether an upgrade's impact on the live database decides when it may run."""
        return bool(self.windows) or self.busy_sessions is not None or self.busy_tps is not None


DEFAULTS = {
    policy.name: policy
    for policy in (
        Policy("development", auto_apply=True, recreate=True, seeds="development"),
        Policy("staging", seeds="staging", backup="before_changes", verify=True),
        Policy("production", backup="mandatory", approval=True),
    )
}
assert tuple(DEFAULTS) == BUILT_IN_ENVIRONMENTS, "config names the environments policy defines"

_POLICY_FIELDS = {field.name for field in fields(Policy)} - {"name"}


def _seconds(value: Any, name: str) -> float:
    """A number of seconds, or a duration written with its unit (`30s`, `2min`)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        return parse_duration_ms(value, name) / 1000
    raise UsageError(f'{name} = {value!r} is not a number of seconds; write it like 30 or "2min"')


def _rate(value: Any, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise UsageError(f"{name} = {value!r} must be a positive number of transactions a second")


# The settings that are written one way in pyproject.toml and kept another in the Policy.
_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "windows": maintenance.parse_all,
    "window_threshold_bytes": parse_size,
    "window_lock_seconds": _seconds,
    "busy_sessions": parse_count,
    "busy_tps": _rate,
}


def for_settings(settings: Settings) -> Policy:
    """The policy of the settings' environment: its defaults, changed by pyproject."""
    configured: dict[str, Any] = (
        pyproject_settings(settings.project_root).get("environments", {}).get(settings.environment)
    ) or {}
    # An environment neither built in nor configured was refused when the settings were read.
    base = DEFAULTS.get(settings.environment)
    table = f"[tool.migrator.environments.{settings.environment}]"
    changes = {
        key: _PARSERS[key](value, f"{table} {key}") if key in _PARSERS else value
        for key, value in configured.items()
        if key in _POLICY_FIELDS
    }
    if changes.get("seeds") is False:
        changes["seeds"] = None
    policy = replace(base or Policy(settings.environment), **changes)
    if policy.backup not in BACKUP_MODES:
        raise UsageError(
            f"backup = {policy.backup!r} for {policy.name}; use one of {', '.join(BACKUP_MODES)}"
        )
    return policy


class ApprovalRequired(MigratorError):
    """Production runs only the plan a person approved, by its hash."""


def approval_note(policy: Policy, plan: Plan, approved: str | None, command: str) -> str | None:
    """Refuse unless the policy needs no approval or `approved` is this plan's hash; the note
    to record with the run otherwise."""
    if not policy.approval or (not plan and approved is None):
        return None
    review = (
        command.replace(" --approve HASH", "")
        .replace("migrate up", "migrate plan")
        .replace("migrate down", "migrate plan --down")
    )
    if approved is None:
        raise ApprovalRequired(
            f"{policy.name} runs only approved plans ({plan.summary()}); review it with "
            f"`{review}`, then run `{command.replace('HASH', plan.hash)}`"
        )
    if approved != plan.hash:
        raise ApprovalRequired(
            f"the approved plan {approved} is not the plan now ({plan.hash}): the revision files "
            f"or the database changed since it was reviewed; review `{review}` again"
        )
    who = history.identity(policy.name)
    return f"approved plan {plan.hash} by {who.os_user}@{who.host}"


def wants_backup(policy: Policy, plan: Plan) -> bool:
    """Whether the policy wants a backup before the plan runs."""
    return policy.backup != "never" and bool(plan)


class OutsideWindow(MigratorError):
    """An upgrade that blocks a large table runs only inside a maintenance window, on a quiet
    database."""


@dataclass(frozen=True)
class Load:
    """How busy the database is: sessions running a query (not counting ours) and
    transactions ended a second."""

    active_sessions: int
    transactions_per_second: float


def needing_window(policy: Policy, impacts: list[maintenance.Impact]) -> list[str]:
    """Why revisions of the plan may run only inside a window (empty: none needs one)."""
    found = (
        maintenance.why_window(impact, policy.window_threshold_bytes, policy.window_lock_seconds)
        for impact in impacts
    )
    return [reason for reason in found if reason]


def window_note(
    policy: Policy,
    needs: list[str],
    now: datetime,
    load: Load | None,
    override: str | None,
) -> str | None:
    """Refuse revisions that need a window (`needs`) outside every window of the policy, or
    while the database is busier than it allows, unless an `override` reason was given: then
    the note to record with the run, saying who overrode and why."""
    if not needs:
        return None
    problems = []
    if policy.windows and maintenance.inside(policy.windows, now) is None:
        upcoming = maintenance.next_opening(policy.windows, now)
        assert upcoming is not None, "a weekly window always opens again"
        problems.append(
            f"now is outside every maintenance window of {policy.name}; the next is "
            f"{maintenance.describe_opening(*upcoming)}"
        )
    if load is not None:
        if policy.busy_sessions is not None and load.active_sessions > policy.busy_sessions:
            problems.append(
                f"{load.active_sessions} sessions are active (busy_sessions is "
                f"{policy.busy_sessions})"
            )
        if policy.busy_tps is not None and load.transactions_per_second > policy.busy_tps:
            problems.append(
                f"{load.transactions_per_second:.0f} transactions a second (busy_tps is "
                f"{policy.busy_tps:g})"
            )
    if not problems:
        return None
    if override is None:
        raise OutsideWindow(
            f"{'; '.join(needs)}: {'; '.join(problems)}. Wait for a window on a quiet "
            "database, or pass --outside-window --reason TEXT to run it now"
        )
    who = history.identity(policy.name)
    return f"run outside its maintenance window by {who.os_user}@{who.host}: {override}"
