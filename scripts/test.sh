#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, lints and type-checks api/src (ruff, mypy: their
# config is in pyproject.toml), runs the whole suite, then lints the container files (.ci/lint-docker.sh:
# hadolint, shellcheck, compose checks). Runs every step, and fails if any fails.
#   bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
# Deployment recipes (Helm chart, Ray/Modal files): linted offline before the tests.
bash .ci/lint-deploy.sh
PY="${VENV:-.venv}/bin/python"
status=0
"$PY" -m ruff check api/src || status=$?
"$PY" -m mypy || status=$((status ? status : $?))
"$PY" -m pytest "$@" || status=$((status ? status : $?))
bash .ci/lint-docker.sh || status=$((status ? status : 1))
exit "$status"
