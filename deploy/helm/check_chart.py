"""Lints the Helm chart offline: `helm lint --strict`, `helm template`, Kubernetes schemas, our invariants.

    python deploy/helm/check_chart.py [CHART] [--kube-versions 1.25.0,1.37.0]

Tools (from PyPI, no helm binary, no cluster): helm-python-sdk (Helm's own Go library: the same lint
and template engine as the helm CLI) and kubernetes-validate (the Kubernetes OpenAPI schemas, strict:
unknown fields are errors). Every values file in CHART/ci/ is linted and rendered for every Kubernetes
version given; a deliberately bad values set must be refused, so a linter that checks nothing fails.
Exit status 1 on any error.
"""
import argparse
import re
import sys
from pathlib import Path

import kubernetes_validate
import yaml
from helm_python import chart as helm

REPO = Path(__file__).resolve().parents[2]
METRICS_SOURCE = REPO / "api" / "src" / "routers" / "metrics.py"
WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error
BAD_VALUES = {"gpu": {"count": "one"}, "service": {"port": 0}}


def lint(chart_dir: Path, values: dict, kube_version: str) -> list[str]:
    report = helm.lint(chart_dir, values, strict=True, kube_version=f"v{kube_version}")
    return [f"{m['path']}: {m['error'].strip()}" for m in report["messages"] if m["severity"] >= WARNING]


def render(chart_dir: Path, values: dict) -> list[dict]:
    with helm.Chart.load(chart_dir) as chart:
        manifests = chart.render(values, name="kokoro", namespace="tts", is_install=True)
    return [doc for name, text in sorted(manifests.items()) if name.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


def validate(objects: list[dict], kube_version: str) -> list[str]:
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            errors.append(f"{obj.get('kind')} {obj['metadata'].get('name')}: {path}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
            errors.append(f"{obj.get('kind')}: {exc}")
    return errors


def merged_values(chart_dir: Path, overrides: dict) -> dict:
    def merge(base, extra):
        if isinstance(base, dict) and isinstance(extra, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in extra.items()}}
        return extra

    return merge(yaml.safe_load((chart_dir / "values.yaml").read_text()), overrides)


def invariants(objects: list[dict], values: dict) -> list[str]:
    """What the deployment must keep, whatever the values: probes, GPU limit, model volume, HPA metric."""
    errors = []
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    (deployment,) = by_kind.get("Deployment", [None])
    (configmap,) = by_kind.get("ConfigMap", [None])
    if deployment is None or configmap is None or "Service" not in by_kind:
        return ["need exactly one Deployment, one ConfigMap and a Service"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    probes = {name: container.get(f"{name}Probe", {}).get("httpGet", {}).get("path")
              for name in ("startup", "readiness", "liveness")}
    if probes != {"startup": "/health", "readiness": "/health", "liveness": "/health/live"}:
        errors.append(f"probes must be startup+readiness on /health, liveness on /health/live: {probes}")
    startup = container["startupProbe"]
    if startup["periodSeconds"] * startup["failureThreshold"] < 300:
        errors.append("the start-up probe must allow at least 300 s (download, load, warm-up)")
    limits = container.get("resources", {}).get("limits", {})
    if values["gpu"]["enabled"] and limits.get(values["gpu"]["resourceName"]) != values["gpu"]["count"]:
        errors.append(f"GPU limit {values['gpu']['resourceName']}={values['gpu']['count']} missing: {limits}")
    if not values["gpu"]["enabled"] and any("gpu" in key for key in limits):
        errors.append(f"gpu.enabled=false but a GPU limit is set: {limits}")
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    if mounts.get("models") != configmap["data"].get("MODEL_DIR"):
        errors.append(f"the models volume must be mounted on MODEL_DIR: {mounts} vs {configmap['data'].get('MODEL_DIR')}")
    if "DOWNLOAD_MODEL" not in configmap["data"]:
        errors.append("DOWNLOAD_MODEL must be set in the ConfigMap")
    if {"name": configmap["metadata"]["name"]} not in [e.get("configMapRef") for e in container.get("envFrom", [])]:
        errors.append("the container must take its settings from the ConfigMap")
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    if values["autoscaling"]["enabled"]:
        metric_names = [m["pods"]["metric"]["name"] for hpa in hpas for m in hpa["spec"]["metrics"]
                        if m["type"] == "Pods"]
        if metric_names != [values["autoscaling"]["metricName"]] or hpas[0]["apiVersion"] != "autoscaling/v2":
            errors.append(f"need one autoscaling/v2 HPA on the Pods metric {values['autoscaling']['metricName']}")
        if "replicas" in deployment["spec"]:
            errors.append("with the HPA on, the Deployment must not set replicas (each upgrade would reset it)")
    elif hpas:
        errors.append("autoscaling.enabled=false but an HPA is rendered")
    return errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chart", nargs="?", type=Path, default=Path(__file__).parent / "kokoro-server")
    parser.add_argument("--kube-versions", default="1.25.0,1.37.0")
    args = parser.parse_args(argv)
    kube_versions = args.kube_versions.split(",")
    failures = 0
    for values_file in sorted((args.chart / "ci").glob("*.yaml")):
        overrides = yaml.safe_load(values_file.read_text()) or {}
        values = merged_values(args.chart, overrides)
        objects = render(args.chart, overrides)
        errors = invariants(objects, values)
        for kube_version in kube_versions:
            errors += [f"lint (k8s {kube_version}): {e}" for e in lint(args.chart, overrides, kube_version)]
            errors += [f"schema (k8s {kube_version}): {e}" for e in validate(objects, kube_version)]
        kinds = ", ".join(sorted(o["kind"] for o in objects))
        print(f"{'ok' if not errors else 'FAIL'}: {values_file.name}: {kinds}")
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        failures += bool(errors)
    if not lint(args.chart, BAD_VALUES, kube_versions[-1]):
        print(f"FAIL: helm lint accepted bad values {BAD_VALUES}", file=sys.stderr)
        failures += 1
    metric = yaml.safe_load((args.chart / "values.yaml").read_text())["autoscaling"]["metricName"]
    if not re.search(rf"[\"']{re.escape(metric)}[\"']", METRICS_SOURCE.read_text()):
        # Not an error: the HPA scales only once the server exports it (it is being added alongside).
        print(f"warning: {METRICS_SOURCE.relative_to(REPO)} does not export {metric} yet; the HPA needs it",
              file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
