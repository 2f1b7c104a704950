"""The pytest plugin's commands: a template database at head for a service's tests, and a copy
of it per test.

The template is `dev reset`'s (devdb): built once per server and set of revision and seed
files, then found by its name, so that a test pays only for a copy.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy.engine import URL

from migrator.commands.writing import rules, run_plan
from migrator.context import Context
from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.model.plan import upgrade, upgrade_targets
from migrator.ops import devdb, testdb


def template_for_tests(ctx: Context, service: str | None) -> str:
    """The template at head for `service` and every service it depends on (every service
    when None), with the environment's seeds: found on the server, or built now."""
    name = services.resolve(service).name if service else None
    build = testdb.build_url(ctx.url, name)
    template = devdb.template_name(ctx.settings, build, rules(ctx).seeds)
    if template not in devdb.listed_templates(ctx.url):
        _build(ctx, build, name, template)
    return template


def database_for_test(ctx: Context, template: str) -> AbstractContextManager[URL]:
    """A copy of `template` for one test, dropped when the block ends."""
    return testdb.clone(ctx.url, template)


def _build(ctx: Context, build: URL, service: str | None, template: str) -> None:
    devdb.recreate(build, template)  # empty: the template does not exist
    try:
        target = ctx.on(build)
        graph = target.graph
        heads = _heads_needed(graph, service) if service else upgrade_targets(graph, None, None)
        plan = upgrade(graph, target.heads(), heads)
        run_plan(target, plan, replan=lambda moved: upgrade(graph, moved, heads))
        devdb.keep_as_template(build, template)
    finally:
        testdb.drop(ctx.url, str(build.database))


def _heads_needed(graph: RevisionGraph, service: str) -> list[str]:
    """The heads of the service and, to a fixed point, of every service whose revisions the
    branches brought to head need: a service's seeds load only when the branches it needs are
    at head too."""
    needed: set[str] = set()
    new = {service}
    while new:
        needed |= new
        reached = (graph.services_needed(services.resolve(name)) for name in new)
        new = set().union(*reached) - needed
    return [graph.branch(services.resolve(name))[-1].id for name in sorted(needed)]
