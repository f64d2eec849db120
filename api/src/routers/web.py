"""The browser UI: the static files under the repository's `web/` folder, served at `/web/`.

Plain files, no build step: the page talks to the same server through the public API
(`/v1/models`, `/v1/audio/voices`, `/v1/audio/speech`, and `/dev/captioned_speech` when present).
Switched off with ENABLE_WEB_UI=false; then `/web` answers 404 like any unknown path.
"""
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parents[3] / "web"
PREFIX = "/web"


def web_ui_url(host: str, port: int) -> str:
    """The page's URL as a browser on this machine opens it: a wildcard bind (0.0.0.0, ::) becomes loopback."""
    shown = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}{PREFIX}/"


def mount_web_ui(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    """Serve ``web_dir`` at ``/web/`` (index.html for the folder) and redirect ``/web`` there.

    The redirect matters: the page loads its scripts by relative URL, which only resolve under
    ``/web/``.
    """
    if not (web_dir / "index.html").is_file():
        raise SystemExit(f"ENABLE_WEB_UI=true but {web_dir / 'index.html'} is missing")

    @app.get(PREFIX, include_in_schema=False)
    async def web_root() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=307)

    app.mount(PREFIX, StaticFiles(directory=web_dir, html=True), name="web")
