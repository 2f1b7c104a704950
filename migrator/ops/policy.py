"""Environments as policy: what a run may do, and what it must do first, per environment.

Development wants speed (apply on service start, recreate at will, seed), staging wants proof
(a backup, and the rollback verified before it is needed), production wants control (no
migration without a backup, nothing that was not approved, no `down` without approval). The
defaults are below; `[tool.migrator.environments.<name>]` in pyproject.toml changes them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from migrator.config import BUILT_IN_ENVIRONMENTS, Settings, pyproject_settings
from migrator.errors import MigratorError, UsageError
from migrator.model.plan import Plan
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

    def describe(self) -> str:
        seeds = f"{self.seeds} seeds" if self.seeds else "no seeds"
        return (
            f"environment {self.name}: backup {self.backup.replace('_', ' ')}, "
            f"{'rollback verified first' if self.verify else 'no verification'}, "
            f"{'approval required' if self.approval else 'no approval'}, {seeds}, "
            f"{'recreation allowed' if self.recreate else 'no recreation'}"
        )


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


def for_settings(settings: Settings) -> Policy:
    """The policy of the settings' environment: its defaults, changed by pyproject."""
    configured: dict[str, Any] = (
        pyproject_settings(settings.project_root).get("environments", {}).get(settings.environment)
    ) or {}
    # An environment neither built in nor configured was refused when the settings were read.
    base = DEFAULTS.get(settings.environment)
    changes = {key: value for key, value in configured.items() if key in _POLICY_FIELDS}
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
