"""``python -m api`` (or ``kokoro-server``): run the server with uvicorn on HOST:PORT from the settings."""
import sys


def main() -> None:
    import uvicorn

    from .src.builds import VERSIONS
    from .src.core import metrics_multiprocess
    from .src.core.config import get_settings
    from .src.inference.fetch_weights import MissingModelFiles, ensure_version_files

    settings = get_settings()
    try:  # before uvicorn starts workers, so N workers do not download (or fail) N times
        ensure_version_files(VERSIONS[settings.default_model_version], settings.model_dir,
                             download=settings.download_model)
    except MissingModelFiles as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    workers = settings.workers
    # Before uvicorn spawns the workers: they inherit the variable and aggregate /metrics through it.
    metrics_dir = metrics_multiprocess.prepare_directory(workers)
    try:
        uvicorn.run("api.src.main:app", host=settings.host, port=settings.port,
                    log_level=settings.log_level.lower(), workers=workers)
    finally:
        metrics_multiprocess.remove_directory(metrics_dir)


if __name__ == "__main__":
    sys.exit(main())
