#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs the whole suite.
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
# Deployment recipes (Helm chart, Ray/Modal files): linted offline before the tests.
bash .ci/lint-deploy.sh
PY="${VENV:-.venv}/bin/python"
exec "$PY" -m pytest "$@"
