"""Every route of the app, mounted in one place."""
from fastapi import FastAPI

from ..core.config import Settings
from . import dev, downloads, health, metrics, models, openai_compatible, speech_stream, voices
from .web import mount_web_ui

# Served under /v1 and at the root: /audio/speech, /audio/voices, /audio/models, /models ... (not in the schema twice)
OPENAI_ROUTERS = (openai_compatible.router, models.router, voices.router, speech_stream.router)


def mount_routes(app: FastAPI, settings: Settings) -> None:
    """The OpenAI routers under /v1 and again at the root, health, metrics, downloads, and by setting the
    developer routes (ENABLE_DEV_ROUTES) and the web UI (ENABLE_WEB_UI)."""
    app.include_router(openai_compatible.router, prefix="/v1")
    app.include_router(models.router, prefix="/v1")
    app.include_router(health.router)
    app.include_router(metrics.router)
    if settings.enable_dev_routes:
        app.include_router(dev.router)
    app.include_router(voices.router, prefix="/v1")
    app.include_router(speech_stream.router, prefix="/v1")
    app.include_router(downloads.router)
    for router in OPENAI_ROUTERS:   # again without /v1 (Home Assistant's openai_tts and others), same handlers
        app.include_router(router, include_in_schema=False)
    if settings.enable_web_ui:
        mount_web_ui(app)
