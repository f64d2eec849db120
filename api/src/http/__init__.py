"""The HTTP layer: OpenAI's error envelope, the ASGI middlewares (one per module), SSE bodies and the
SIGTERM drain. Everything below it (core, builds, inference, structures, services) knows nothing of
FastAPI or Starlette; the routers and the composition root build on it."""
