"""What `build_app` accepts: the `args` of a Serve config file or ``serve run ... key=value``.

These shape the Ray deployment (replicas, resources, queues); the server's own settings (MODEL_DIR,
DEVICE, TORCH_THREADS, MAX_ACTIVE_REQUESTS, ...) go to every replica through ``env``, exactly as the
environment of a single server would.
"""
import json
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class RayDeployOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Model replicas: a fixed count, or autoscaling between min and max on ongoing requests.
    num_replicas: int = Field(1, ge=1)
    autoscale: bool = False
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(4, ge=1)
    target_ongoing_requests: float = Field(8, gt=0)

    # Resources per model replica; fractional GPUs pack several replicas on one device.
    num_gpus: float = Field(0, ge=0)
    num_cpus: float = Field(1, ge=0)

    # Ray's backpressure: a replica gets at most max_ongoing_requests at once (keep it at or below the
    # server's MAX_ACTIVE_REQUESTS so that Ray, which sees every replica, does the queueing); the
    # gateway queues at most max_queued_requests more, then answers 429 with Retry-After.
    max_ongoing_requests: int = Field(32, ge=1)
    max_queued_requests: int = Field(64, ge=-1)
    retry_after_s: int = Field(2, ge=1)

    # The HTTP gateway (no model; light): its replica count and CPU share.
    gateway_replicas: int = Field(1, ge=1)
    gateway_num_cpus: float = Field(0.1, ge=0)

    health_check_period_s: float = Field(10, gt=0)
    # Server settings for the replicas (env var name -> value), e.g. {"DEVICE": "cuda"}.
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env", mode="before")
    @classmethod
    def _env_from_json(cls, value):
        # `serve run ... env='{"DEVICE": "cuda"}'` passes every argument as a string.
        return json.loads(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_scaling(self):
        if self.autoscale and not self.min_replicas <= self.max_replicas:
            raise ValueError("need min_replicas <= max_replicas")
        if self.max_queued_requests == 0:
            raise ValueError("max_queued_requests must be -1 (no limit) or at least 1")
        for limit in ("MAX_ACTIVE_REQUESTS", "MAX_INFLIGHT_PER_WORKER"):
            admitted = self.env.get(limit)
            if admitted and admitted.isdigit() and self.max_ongoing_requests > int(admitted):
                # The replica would answer its own 429 to requests Ray could have queued for another one.
                raise ValueError(f"max_ongoing_requests ({self.max_ongoing_requests}) must not exceed the "
                                 f"replicas' {limit} ({admitted})")
        return self

    def replica_env(self) -> dict[str, str]:
        """The replicas' settings: ``env``, with the server's cap (MAX_ACTIVE_REQUESTS) raised to what Ray
        sends each replica when ``env`` sets none (the server's default of 10 would refuse Ray's own
        traffic); MAX_INFLIGHT_PER_WORKER is its deprecated name."""
        if any(name in self.env for name in ("MAX_ACTIVE_REQUESTS", "MAX_INFLIGHT_PER_WORKER")):
            return dict(self.env)
        return {"MAX_ACTIVE_REQUESTS": str(self.max_ongoing_requests), **self.env}

    def autoscaling_config(self) -> Optional[dict]:
        if not self.autoscale:
            return None
        return {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing_requests}
