"""Ray Serve application: ``serve run deploy.ray.app:build_app`` or ``serve deploy deploy/ray/serve.yaml``.

Two deployments:
- ``KokoroReplica`` (N replicas, each with ``num_gpus``/``num_cpus``): the server's own FastAPI app from
  ``api.src.main.create_app``, its lifespan (file check, build, warm-up, inference worker) run when the
  replica starts. Every answer carries ``X-Replica``.
- ``KokoroGateway`` (the HTTP ingress, no model): forwards requests to the replicas through Ray's router,
  which balances on ongoing requests and applies ``max_ongoing_requests``/``max_queued_requests``;
  see gateway.py for why it is not Ray's proxy alone.
"""
import asyncio
from typing import Any, Optional

from ray import serve
from ray.serve.config import BackpressureConfig

from .bridge import ForwardedRequest, run_asgi
from .options import RayDeployOptions

# A worker restart takes well under a second; a worker still dead after this is reported to Ray.
HEALTH_RECHECK_S = 3.0


class KokoroReplica:
    """One full server (model, scheduler, inference worker) inside a Ray actor."""

    async def __init__(self):
        from api.src.main import create_app  # torch and the model code load only in replicas

        self.app = create_app()
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        replica_id = serve.get_replica_context().replica_id.unique_id
        self._headers = [(b"x-replica", replica_id.encode())]

    async def handle_http(self, request: ForwardedRequest):
        async for message in run_asgi(self.app, request, self._headers):
            yield message

    async def check_health(self) -> None:
        """Ray replaces a replica whose inference worker stays dead (the server restarts it itself first)."""
        scheduler = self.app.state.scheduler
        if not scheduler.alive:
            await asyncio.sleep(HEALTH_RECHECK_S)
            if not scheduler.alive:
                raise RuntimeError("inference worker is not running")

    async def __del__(self):
        await self._lifespan.__aexit__(None, None, None)


class KokoroGateway:
    """The ingress: builds the forwarding ASGI app once the replica handle is known."""

    def __init__(self, replicas, retry_after_s: int):
        self.replicas = replicas
        self.retry_after_s = retry_after_s

    def __serve_build_asgi_app__(self):
        from api.src.core.config import Settings
        from api.src.http.body_limit import BodyLimitMiddleware

        from .gateway import GatewayApp

        # The replicas check the limit too; here it bounds what the gateway buffers before forwarding.
        return BodyLimitMiddleware(GatewayApp(self.replicas, self.retry_after_s), Settings().max_request_bytes)


def build_app(args: Optional[dict[str, Any]] = None):
    """The bound application for ``serve.run``/``serve run``; ``args`` as in `RayDeployOptions`."""
    options = RayDeployOptions(**(args or {}))
    runtime_env = {"env_vars": options.replica_env()}
    scaling = ({"autoscaling_config": options.autoscaling_config()} if options.autoscale
               else {"num_replicas": options.num_replicas})
    replica = serve.deployment(KokoroReplica).options(
        name="KokoroReplica",
        max_ongoing_requests=options.max_ongoing_requests,
        max_queued_requests=options.max_queued_requests,
        backpressure_config=BackpressureConfig(status_code=429, retry_after_s=options.retry_after_s),
        health_check_period_s=options.health_check_period_s,
        ray_actor_options={"num_cpus": options.num_cpus, "num_gpus": options.num_gpus, "runtime_env": runtime_env},
        **scaling,
    )
    gateway = serve.deployment(serve.ingress()(KokoroGateway)).options(
        name="KokoroGateway",
        num_replicas=options.gateway_replicas,
        # Waiting happens in front of the replicas, where the limits are; the gateway only relays.
        max_ongoing_requests=100_000,
        ray_actor_options={"num_cpus": options.gateway_num_cpus, "runtime_env": runtime_env},
    )
    return gateway.bind(replica.bind(), options.retry_after_s)
