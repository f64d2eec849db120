"""The Ray application's options and the Serve config file shipped in deploy/ray (no cluster started)."""
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from deploy.ray.options import RayDeployOptions

SERVE_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "ray" / "serve.yaml"


def test_fixed_and_autoscaled_replicas():
    assert RayDeployOptions().autoscaling_config() is None
    scaled = RayDeployOptions(autoscale=True, min_replicas=1, max_replicas=8, target_ongoing_requests=16)
    assert scaled.autoscaling_config() == {"min_replicas": 1, "max_replicas": 8, "target_ongoing_requests": 16}
    # `serve run deploy.ray.app:build_app key=value` passes strings.
    cli = RayDeployOptions(num_replicas="2", num_gpus="0.5", autoscale="true", env='{"DEVICE": "cuda"}')
    assert (cli.num_replicas, cli.num_gpus, cli.autoscale, cli.env) == (2, 0.5, True, {"DEVICE": "cuda"})
    for bad in ({"autoscale": True, "min_replicas": 5, "max_replicas": 2}, {"max_queued_requests": 0},
                {"num_gpus": -1}, {"replicas": 2},
                {"max_ongoing_requests": 65, "env": {"MAX_ACTIVE_REQUESTS": "64"}}):
        with pytest.raises(ValidationError):
            RayDeployOptions(**bad)


def test_the_serve_config_file_is_valid_for_ray_and_for_build_app():
    serve_schema = pytest.importorskip("ray.serve.schema", reason="ray[serve] is not installed")
    from deploy.ray.app import build_app

    config = yaml.safe_load(SERVE_CONFIG.read_text())
    schema = serve_schema.ServeDeploySchema(**config)
    (application,) = schema.applications
    assert application.import_path == "deploy.ray.app:build_app"
    options = RayDeployOptions(**application.args)
    assert options.num_gpus > 0 and options.autoscale
    assert options.max_ongoing_requests <= int(options.env["MAX_ACTIVE_REQUESTS"])
    app = build_app(application.args)
    replica = app._bound_deployment.init_args[0]._bound_deployment  # the model deployment, bound into the gateway
    assert replica.ray_actor_options["num_gpus"] == options.num_gpus
    assert replica._deployment_config.autoscaling_config.max_replicas == options.max_replicas
    assert replica._deployment_config.max_queued_requests == options.max_queued_requests


def test_replicas_admit_what_ray_sends_them():
    # the server's one cap (MAX_ACTIVE_REQUESTS, default 10) follows max_ongoing_requests unless env sets it
    assert RayDeployOptions(max_ongoing_requests=32).replica_env() == {"MAX_ACTIVE_REQUESTS": "32"}
    given = RayDeployOptions(max_ongoing_requests=8, env={"MAX_ACTIVE_REQUESTS": "12", "DEVICE": "cuda"})
    assert given.replica_env() == {"MAX_ACTIVE_REQUESTS": "12", "DEVICE": "cuda"}
    # its deprecated name still counts as setting it
    old = RayDeployOptions(max_ongoing_requests=8, env={"MAX_INFLIGHT_PER_WORKER": "12"})
    assert old.replica_env() == {"MAX_INFLIGHT_PER_WORKER": "12"}
    with pytest.raises(ValidationError, match="MAX_INFLIGHT_PER_WORKER"):
        RayDeployOptions(max_ongoing_requests=32, env={"MAX_INFLIGHT_PER_WORKER": "10"})
