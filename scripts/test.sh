#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs the whole suite.
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
PY="${VENV:-.venv}/bin/python"
exec "$PY" -m pytest "$@"
