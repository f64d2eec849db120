"""The middleware stack, in its one order (each middleware is its own module in this package)."""
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ..core.config import Settings
from .admission import Admission, AdmissionMiddleware
from .api_keys import ApiKeyMiddleware
from .body_limit import BodyLimitMiddleware
from .json_body import JsonBodyMiddleware
from .origins import OriginMiddleware
from .request_id import RequestIdMiddleware

EXPOSED_HEADERS = ["X-Seed", "X-Model-Version", "X-Request-ID", "X-Download-Path"]


def install_middleware(app: FastAPI, settings: Settings, admission: Admission,
                       public_prefixes: tuple[str, ...] = ("/health",)) -> None:
    """Add the stack to ``app``. The last added runs first: ids for everything, then CORS (answers
    preflights), origins (refuses a disallowed site's simple requests), keys (``public_prefixes`` need
    none), body limit, admission (body deadline, in-flight count, clients that leave or stop reading,
    shutdown drain), JSON bodies (no Content-Type: read as JSON; another type: 415)."""
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(AdmissionMiddleware, admission=admission, body_timeout_s=settings.body_read_timeout_s,
                       send_timeout_s=settings.slow_reader_timeout_s)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys, public_prefixes=public_prefixes)
    app.add_middleware(OriginMiddleware, allowed_origins=settings.cors_origins)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                       allow_headers=["*"], expose_headers=EXPOSED_HEADERS)
    app.add_middleware(RequestIdMiddleware)
