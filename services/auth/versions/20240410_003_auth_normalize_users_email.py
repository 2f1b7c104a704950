"""Normalise auth.users.email to lower case without surrounding spaces

Migration: normalize users email (data migration)
Service: auth-service
Author: Inopsio Platform <platform@inopsio.example>
Date: 2024-04-10
Dependencies: []

Sign-in, invitations and the email service compare addresses case-insensitively, but older
clients stored them as typed. Every email becomes lower(btrim(email)). Each row this changes
keeps its original in auth.email_normalization_originals (kept until the downgrade, which
writes the originals back and drops the table; rows whose email was changed again after this
migration are left as they are). Two accounts whose emails differ only by case or surrounding
spaces cannot both be normalised: the upgrade then stops with an error listing them (SQLSTATE
23505), changes nothing, and support merges or renames those accounts before running it again.
"""

from migrator.revision import run_sql

revision = "20240410_003"
down_revision = "20240410_002"
branch_labels = ()
depends_on = None

UPGRADE = """
CREATE TABLE IF NOT EXISTS auth.email_normalization_originals (
    user_id    uuid         NOT NULL,
    email      varchar(255) NOT NULL,
    created_at timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT email_normalization_originals_pkey PRIMARY KEY (user_id),
    CONSTRAINT email_normalization_originals_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES auth.users (id) ON DELETE CASCADE
);

DO $$
DECLARE
    collisions text;
BEGIN
    SELECT string_agg(normalized, ', ' ORDER BY normalized) INTO collisions
    FROM (
        SELECT lower(btrim(email)) AS normalized
        FROM auth.users
        GROUP BY lower(btrim(email))
        HAVING count(*) > 1
    ) AS duplicates;
    IF collisions IS NOT NULL THEN
        RAISE EXCEPTION 'auth.users: several accounts share these emails once lower-cased and trimmed: %', collisions
            USING ERRCODE = 'unique_violation',
                  HINT = 'Merge or rename these accounts, then run the migration again.';
    END IF;
END
$$;

INSERT INTO auth.email_normalization_originals (user_id, email)
SELECT id, email FROM auth.users WHERE email <> lower(btrim(email))
ON CONFLICT (user_id) DO NOTHING;

UPDATE auth.users SET email = lower(btrim(email)) WHERE email <> lower(btrim(email));
"""

DOWNGRADE = """
UPDATE auth.users AS u
SET email = o.email
FROM auth.email_normalization_originals AS o
WHERE u.id = o.user_id AND u.email = lower(btrim(o.email));

DROP TABLE IF EXISTS auth.email_normalization_originals;
"""


def upgrade() -> None:
    run_sql(UPGRADE)


def downgrade() -> None:
    run_sql(DOWNGRADE)
