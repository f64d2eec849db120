#!/bin/sh
# Container entry point (Dockerfile.cpu, Dockerfile.gpu).
#
#   (no arguments, or options only)  start the server through scripts/run.sh, which preloads tcmalloc
#                                    and execs `python -m api` (options are passed through)
#   any other command                run it instead, e.g.
#                                    docker run --rm -v kokoro-models:/app/api/src/models IMAGE \
#                                        python -m api.src.inference.fetch_weights --version v0_19
#
# Env (everything else, HOST, PORT, MODEL_DIR, DEVICE, DOWNLOAD_MODEL, MAX_ACTIVE_REQUESTS, ..., goes
# to the server's settings untouched):
#   WORKERS        uvicorn worker processes (default 1). Each loads its own copy of the model. On the
#                  CPU, when TORCH_THREADS is unset or 0, the CPUs are shared out between the workers
#                  so that N workers do not each start one thread per core. With WORKERS > 1,
#                  `python -m api` exports a fresh PROMETHEUS_MULTIPROC_DIR (a temp dir, or the one
#                  given, emptied at start) so that /metrics sums all the workers.
#   LOG_LEVEL      trace, debug, info (default), warning (or warn), error, critical; any case.
set -eu

APP_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

die() {
    echo "entrypoint: $*" >&2
    exit 2
}

# CPUs this container may use: the affinity mask (nproc), capped by a cgroup v2 CPU quota.
cpu_count() {
    n=$(nproc 2>/dev/null || echo 1)
    if [ -r /sys/fs/cgroup/cpu.max ]; then
        read -r quota period </sys/fs/cgroup/cpu.max || true
        if [ "${quota:-max}" != "max" ] && [ "${period:-0}" -gt 0 ] 2>/dev/null; then
            q=$(( (quota + period - 1) / period ))
            [ "$q" -ge 1 ] && [ "$q" -lt "$n" ] && n=$q
        fi
    fi
    echo "$n"
}

if [ "$#" -gt 0 ]; then
    case "$1" in
        -*) ;;               # options: for the server
        *) exec "$@" ;;      # a command of its own
    esac
fi

WORKERS=${WORKERS:-1}
case "$WORKERS" in
    '' | *[!0-9]*) die "WORKERS must be a positive integer, got '$WORKERS'" ;;
esac
[ "$WORKERS" -ge 1 ] || die "WORKERS must be a positive integer, got '$WORKERS'"
export WORKERS

LOG_LEVEL=$(printf '%s' "${LOG_LEVEL:-INFO}" | tr '[:lower:]' '[:upper:]')
case "$LOG_LEVEL" in
    WARN) LOG_LEVEL=WARNING ;;
    TRACE | DEBUG | INFO | WARNING | ERROR | CRITICAL) ;;
    *) die "LOG_LEVEL must be one of trace, debug, info, warning, error, critical; got '$LOG_LEVEL'" ;;
esac
export LOG_LEVEL

if [ "$WORKERS" -gt 1 ] && [ "${DEVICE:-auto}" != "cuda" ] && [ "${TORCH_THREADS:-0}" = "0" ]; then
    threads=$(( $(cpu_count) / WORKERS ))
    [ "$threads" -ge 1 ] || threads=1
    TORCH_THREADS=$threads
    export TORCH_THREADS
fi

echo "entrypoint: starting the server (workers=$WORKERS, log level $LOG_LEVEL${TORCH_THREADS:+, torch threads $TORCH_THREADS})" >&2
exec bash "$APP_DIR/scripts/run.sh" "$@"
