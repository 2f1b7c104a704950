<%!
    def docstring_text(value):
        """Text as it may stand in the module's triple-quoted docstring: backslashes and
        double quotes escaped, so that a message holding three quotes (or a stray backslash)
        can neither end the docstring early, turning the rest into code that Alembic runs when
        it imports the file, nor break it; the docstring reads back as the message."""
        return str(value).replace("\\", "\\\\").replace('"', '\\"')

    def literal(value):
        """Python source for a revision id, a tuple of them, or None, in double quotes."""
        if value is None:
            return "None"
        if isinstance(value, str):
            return '"%s"' % value
        items = [literal(item) for item in value]
        return "(%s)" % (", ".join(items) + ("," if len(items) == 1 else ""))
%><%
    title = context.get("title", message)
%>"""${docstring_text(title)}

Migration: ${docstring_text(title)}
Service: ${context.get("service_display_name", "")}
Author: ${docstring_text(context.get("author", ""))}
Date: ${context.get("date") or create_date.date().isoformat()}
Dependencies: ${context.get("dependencies", "[]")}
"""

from migrator.revision import run_sql

revision = ${literal(up_revision)}
down_revision = ${literal(down_revision)}
branch_labels = ${literal(tuple(branch_labels) if branch_labels else ())}
depends_on = ${literal((depends_on,) if isinstance(depends_on, str) else (tuple(depends_on) if depends_on else None))}

UPGRADE = """
${context.get("upgrade_sql") or "-- the change, as SQL"}
"""

DOWNGRADE = """
${context.get("downgrade_sql") or "-- its rollback, as SQL"}
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
