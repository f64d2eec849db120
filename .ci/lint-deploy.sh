#!/usr/bin/env bash
# Lints the deployment recipes without a cluster, a helm binary or GitHub (tools come from PyPI):
#   - deploy/helm/kokoro-server  helm lint --strict + helm template (helm-python-sdk: Helm's own Go
#                                library), every manifest validated against the Kubernetes schemas of
#                                1.25 and 1.37 (kubernetes-validate, strict), and the chart's invariants
#                                (deploy/helm/check_chart.py), for each values file in its ci/ folder
#   - deploy/**/*.yaml           yamllint (templates excluded: they are Go templates, not YAML)
#   - deploy/**/*.py             byte-compiled (the Modal app cannot run here)
# The tools go into their own venv under ${XDG_CACHE_HOME:-~/.cache}, made with $PYTHON (default python3).
#   bash .ci/lint-deploy.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=("helm-python-sdk==0.2.2" "kubernetes-validate==1.37.0" "yamllint==1.38.0" "PyYAML>=6")
PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null 2>&1 || { echo "lint-deploy: no $PY" >&2; exit 1; }
LINT_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/kokoro-lint-deploy-venv"
[ -x "$LINT_VENV/bin/python" ] || "$PY" -m venv "$LINT_VENV"
VPY="$LINT_VENV/bin/python"
"$VPY" -m pip install -q --disable-pip-version-check "${TOOLS[@]}"

status=0
step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; status=1; }

step "yamllint deploy/"
YAMLLINT_CONFIG='{extends: default, ignore: [deploy/helm/kokoro-server/templates/], rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}'
if "$VPY" -m yamllint -s -d "$YAMLLINT_CONFIG" deploy/; then echo "ok: yamllint"; else fail "yamllint"; fi

step "helm lint, helm template, Kubernetes schemas, chart invariants"
if "$VPY" deploy/helm/check_chart.py deploy/helm/kokoro-server; then echo "ok: deploy/helm/kokoro-server"; else fail "chart"; fi

step "byte-compile deploy/"
if find deploy -name '*.py' -exec "$VPY" -m py_compile {} +; then echo "ok: py_compile"; else fail "py_compile"; fi

if [ "$status" -eq 0 ]; then echo "lint-deploy: all checks passed"; else echo "lint-deploy: FAILED" >&2; fi
exit "$status"
