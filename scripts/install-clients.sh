#!/usr/bin/env bash
# Installs the real voice-agent clients that tests/clients/ runs against the server (pipecat, livekit-agents
# and livekit-plugins-openai, pinned in tests/clients/requirements.txt) into a virtualenv of their own,
# .venv-clients: never into the server's .venv, since these packages pin versions that may clash with it.
# The server itself runs from .venv (scripts/install.sh) while those tests run.
#   bash scripts/install-clients.sh
# Env: CLIENTS_VENV (default .venv-clients), PYTHON (the interpreter that makes the venv; default python3),
# USE_LOCK (default 1: on Python 3.11 every package is held to the version tested, tests/clients/constraints.txt;
# 0 = resolve the pins' dependencies anew).
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS_VENV="${CLIENTS_VENV:-.venv-clients}"
PYTHON="${PYTHON:-python3}"
REQUIREMENTS=tests/clients/requirements.txt
CONSTRAINTS=tests/clients/constraints.txt
STARTED=$SECONDS

# Debian's python3 has no venv module (nor ensurepip) without python3-venv.
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "==> apt packages: python3-venv"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends python3-venv
  else
    echo "error: $PYTHON cannot make a virtualenv (no venv/ensurepip module); install python3-venv" >&2
    exit 1
  fi
fi

# A venv whose python is gone (the interpreter it was made from was removed or upgraded) is made anew.
if [ -d "$CLIENTS_VENV" ] && ! "$CLIENTS_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "==> $CLIENTS_VENV is broken: making it anew"
  rm -rf "$CLIENTS_VENV"
fi
[ -x "$CLIENTS_VENV/bin/python" ] || "$PYTHON" -m venv "$CLIENTS_VENV"
PY="$CLIENTS_VENV/bin/python"

echo "==> pip"
"$PY" -m pip install --quiet --upgrade pip
LOCK_ARGS=()
if [ "${USE_LOCK:-1}" = 1 ] && "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  LOCK_ARGS=(-c "$CONSTRAINTS")
else
  echo "not using $CONSTRAINTS (USE_LOCK=${USE_LOCK:-1}, or not Python 3.11): resolving the pins' dependencies"
fi
echo "==> clients ($REQUIREMENTS${LOCK_ARGS:+, constrained by $CONSTRAINTS})"
"$PY" -m pip install --quiet -r "$REQUIREMENTS" "${LOCK_ARGS[@]}"
"$PY" -m pip check
"$PY" - <<'PY'
from importlib.metadata import version
import pipecat.services.openai.tts, livekit.agents, livekit.plugins.openai, websockets, pytest  # noqa: F401
print("clients:", ", ".join(f"{p} {version(p)}" for p in ("pipecat-ai", "livekit-agents", "livekit-plugins-openai")))
PY
echo "installed into $CLIENTS_VENV in $((SECONDS - STARTED)) s"
