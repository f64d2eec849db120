"""Readiness and liveness: answered from state in memory, never behind inference."""
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..dependencies import ManagerDep, SchedulerDep
from ..inference.model_manager import VersionState

router = APIRouter(tags=["Health"])


# GET and HEAD: probes (load balancers, uptime checks) often send HEAD and read only the status.
@router.api_route("/health", methods=["GET", "HEAD"], summary="Readiness: 200 once the default version can serve")
async def health(manager: ManagerDep, scheduler: SchedulerDep):
    # A version freed for idleness is ready too: the next request builds it again.
    ready = manager.state(manager.default_version) in (VersionState.READY, VersionState.IDLE) and scheduler.alive
    versions = manager.status()
    body = {"status": "ok" if ready else "unavailable", "default_version": manager.default_version,
            "device": manager.device, "engine": manager.engine.name, "versions": versions,
            "inference_worker_alive": scheduler.alive, "inference_worker_restarts": scheduler.stats.worker_restarts}
    if not ready:
        reasons = [f"{v}: {s['state']}" + (f" ({s['error']})" if "error" in s else "")
                   for v, s in versions.items() if v == manager.default_version]
        if not scheduler.alive:
            reasons.append("inference worker is not running")
        body["reason"] = "; ".join(reasons)
    return JSONResponse(body, status_code=200 if ready else 503)


@router.api_route("/health/live", methods=["GET", "HEAD"],
                  summary="Liveness: 200 while the process and its inference worker run")
async def live(scheduler: SchedulerDep):
    alive = scheduler.alive
    return JSONResponse({"status": "ok" if alive else "dead"}, status_code=200 if alive else 503)
