#!/usr/bin/env bash
# `migrate` from the project's own virtual environment, installing it on first use. Called
# through its link alembic.sh, the same for `alembic`: the command is the script's own name.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tool="$(basename "${BASH_SOURCE[0]}" .sh)"
if [ ! -x "$here/.venv/bin/$tool" ]; then
    make -C "$here" --no-print-directory .venv/.installed >&2
fi
exec "$here/.venv/bin/$tool" "$@"
