#!/usr/bin/env bash
# `migrate` from the project's own virtual environment, installing it on first use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x "$here/.venv/bin/migrate" ]; then
    make -C "$here" --no-print-directory .venv/.installed >&2
fi
exec "$here/.venv/bin/migrate" "$@"
