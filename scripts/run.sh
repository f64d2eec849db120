#!/usr/bin/env bash
# Starts the server with tcmalloc preloaded when it is installed (see README: CPU speed).
#   bash scripts/run.sh          # HOST, PORT, MODEL_DIR, DOWNLOAD_MODEL, ... from the environment
set -euo pipefail
cd "$(dirname "$0")/.."
for lib in /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 /usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4 \
           /usr/lib64/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4; do
  if [ -f "$lib" ]; then
    export LD_PRELOAD="${LD_PRELOAD:+$LD_PRELOAD:}$lib"
    break
  fi
done
PY=python3
[ -x "${VENV:-.venv}/bin/python" ] && PY="${VENV:-.venv}/bin/python"
exec "$PY" -m api "$@"
