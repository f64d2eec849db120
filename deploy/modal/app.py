"""The Kokoro server on Modal: one H100 per container, autoscaled by Modal on concurrent requests.

    modal run deploy/modal/app.py::download      # once: the weights into the `kokoro-models` Volume
    modal deploy deploy/modal/app.py             # the HTTPS endpoint (OpenAI base URL: <url>/v1)

Run from the repository root. The image repeats Dockerfile.gpu's install steps (espeak-ng, tcmalloc,
CUDA torch first and pinned, the en_core_web_sm stand-in, then the project's dependencies); the
server's code is added on top, so a code change does not rebuild the dependency layers.

Concurrency matches the server's own admission: a container takes at most MAX_ACTIVE_REQUESTS
requests (past that the server would answer 429), and Modal starts another container once the
average passes KOKORO_MODAL_TARGET_INPUTS, before any container has to refuse.
"""
import os
from pathlib import Path

import modal

REPO = Path(__file__).resolve().parents[2]
TORCH_VERSION = "2.13.0"
TORCH_INDEX_URL = "https://download.pytorch.org/whl/cu128"
MODEL_DIR = "/models"

MAX_ACTIVE_REQUESTS = int(os.environ.get("MAX_ACTIVE_REQUESTS", "64"))
TARGET_INPUTS = int(os.environ.get("KOKORO_MODAL_TARGET_INPUTS", str(max(1, MAX_ACTIVE_REQUESTS * 3 // 4))))
GPU = os.environ.get("KOKORO_MODAL_GPU", "H100")
MAX_CONTAINERS = int(os.environ.get("KOKORO_MODAL_MAX_CONTAINERS", "4"))

SERVER_ENV = {
    "MODEL_DIR": MODEL_DIR,
    "DEVICE": "cuda",
    "DOWNLOAD_MODEL": "true",  # a first start on an empty Volume fetches the default version itself
    # Modal sends a container up to MAX_ACTIVE_REQUESTS at once: the server's one cap, the same number.
    "MAX_ACTIVE_REQUESTS": str(MAX_ACTIVE_REQUESTS),
    "LOG_JSON": "true",
    # tcmalloc, as scripts/run.sh preloads it (the CPU-side work still allocates large buffers).
    "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
}

image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("espeak-ng", "libtcmalloc-minimal4")
    .pip_install(f"torch=={TORCH_VERSION}", index_url=TORCH_INDEX_URL)
    .add_local_dir(REPO / "packaging" / "en_core_web_sm", "/opt/en_core_web_sm", copy=True)
    .run_commands("pip install /opt/en_core_web_sm")
    .pip_install_from_pyproject(str(REPO / "pyproject.toml"), optional_dependencies=["ja", "zh"])
    .env(SERVER_ENV)
    .add_local_dir(REPO / "api", "/root/api", ignore=["**/__pycache__", "src/models/*/**"])
)

app = modal.App("kokoro-tts", image=image)
models = modal.Volume.from_name("kokoro-models", create_if_missing=True)


@app.function(volumes={MODEL_DIR: models}, timeout=3600)
def download(version: str = "v1_0") -> None:
    """Fetch a version's files into the Volume (the server's own downloader, checksums included)."""
    from api.src.builds import VERSIONS
    from api.src.inference.fetch_weights import ensure_version_files

    ensure_version_files(VERSIONS[version], Path(MODEL_DIR), download=True)
    models.commit()


@app.function(
    gpu=GPU,
    volumes={MODEL_DIR: models},
    # Start-up: load + warm-up (plus a download on an empty Volume); the server's /health turns 200 after.
    startup_timeout=900,
    timeout=3600,             # one request's longest life: REQUEST_TIMEOUT_S's default
    scaledown_window=300,     # a new container pays a model load: keep an idle one a while
    max_containers=MAX_CONTAINERS,
)
@modal.concurrent(max_inputs=MAX_ACTIVE_REQUESTS, target_inputs=TARGET_INPUTS)
@modal.asgi_app()
def web():
    """The FastAPI app; Modal runs its lifespan (file check, build, warm-up) when the container starts."""
    from api.src.main import create_app

    return create_app()
