"""${message}

Migration: ${message}
Service: ${service_display_name}
Author: ${author}
Date: ${create_date.date().isoformat()}
Dependencies: ${dependencies}
"""

from migrator.revision import run_sql

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}

UPGRADE = """
${upgrade_sql if upgrade_sql else "-- the change, as SQL"}
"""

DOWNGRADE = """
${downgrade_sql if downgrade_sql else "-- its rollback, as SQL"}
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
