#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, lints and type-checks api/src (ruff, mypy: their
# config is in pyproject.toml), runs the whole suite, then the real voice-agent clients' group (tests/clients,
# pipecat and livekit-agents, in their own venv made by scripts/install-clients.sh), then lints the container
# files (.ci/lint-docker.sh: hadolint, shellcheck, compose checks). Runs every step, and fails if any fails.
#   bash scripts/test.sh [pytest args]      (the args go to the main suite only)
# Env: SKIP_CLIENTS=1 leaves the clients' group out (e.g. while iterating on one test).
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
if [ "${SKIP_CLIENTS:-0}" != 1 ]; then
  # Its own venv (the clients pin packages that may clash with the server's); the server runs from $PY.
  if bash scripts/install-clients.sh; then
    KOKORO_SERVER_PYTHON="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" \
      "${CLIENTS_VENV:-.venv-clients}/bin/python" -m pytest --clients tests/clients -q \
      || status=$((status ? status : $?))
  else
    echo "error: installing the clients (scripts/install-clients.sh) failed" >&2
    status=$((status ? status : 1))
  fi
fi
bash .ci/lint-docker.sh || status=$((status ? status : 1))
exit "$status"
