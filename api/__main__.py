"""``python -m api`` (or ``kokoro-server``): run the server with uvicorn on HOST:PORT from the settings.

Flags override the setting of the same name (``--port`` beats PORT, from the environment or ``.env``);
``--help`` lists them and starts nothing.
"""
import argparse
import errno
import os
import socket
import sys
from typing import MutableMapping, Optional, Sequence

# flag destination -> the setting's environment variable. Flags travel as environment variables so that
# every uvicorn worker process (WORKERS > 1) builds the same Settings.
FLAG_SETTINGS = {"host": "HOST", "port": "PORT", "workers": "WORKERS", "model_dir": "MODEL_DIR",
                 "device": "DEVICE", "engine": "ENGINE", "wyoming_port": "WYOMING_PORT"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kokoro-server", description="OpenAI-compatible text-to-speech server for Kokoro-82M. Each flag "
        "overrides the environment variable named in its help; every other setting comes from the environment "
        "(see README, Settings).")
    parser.add_argument("--host", help="address to bind (HOST, default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port to bind, 0 for any free one (PORT, default 8880)")
    parser.add_argument("--wyoming-port", type=int,
                        help="also serve the Wyoming protocol (Home Assistant) on this TCP port of the same host, "
                        "0 for any free one (WYOMING_PORT, default off)")
    parser.add_argument("--workers", type=int, help="server processes, each with its own model (WORKERS, default 1)")
    parser.add_argument("--model-dir", help="folder holding v1_0/ and v0_19/ (MODEL_DIR)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the model runs (DEVICE, default auto)")
    parser.add_argument("--engine", choices=["auto", "torch-fp32", "torch-bf16"],
                        help="how the model runs: torch-bf16 is faster on CPUs with AVX512_BF16 or AMX (ENGINE, "
                        "default auto: bf16 where the CPU has them, else fp32)")
    return parser


def apply_flags(args: argparse.Namespace, environ: MutableMapping[str, str]) -> None:
    """Write each given flag over its setting's environment variable; flags not given leave it alone."""
    for dest, variable in FLAG_SETTINGS.items():
        value = getattr(args, dest)
        if value is not None:
            environ[variable] = str(value)


def main(argv: Optional[Sequence[str]] = None) -> int:
    apply_flags(build_parser().parse_args(argv), os.environ)   # --help exits here, before any heavy import

    from pydantic import ValidationError

    from .src.builds import VERSIONS
    from .src.core import metrics_multiprocess
    from .src.core.config import Settings
    from .src.inference.fetch_weights import MissingModelFiles, ensure_version_files

    try:   # this process's own; the app builds its own after serve() exports the bound port
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            print(f"cannot start: setting {name}={error.get('input')!r}: {error['msg']}", file=sys.stderr)
        return 2
    if settings.device == "cuda":   # torch is imported only to check it: a quick start stays quick
        from .src.inference.model_manager import resolve_device

        try:
            resolve_device(settings.device)
        except ValueError as exc:
            print(f"cannot start: {exc}", file=sys.stderr)
            return 2
    taken = port_problem(settings.host, settings.port) or wyoming_port_problem(settings)
    if taken:
        print(f"cannot start: {taken}", file=sys.stderr)
        return 1
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
        return serve(settings, workers)
    finally:
        metrics_multiprocess.remove_directory(metrics_dir)


def port_problem(host: str, port: int, flag: str = "--port", setting: str = "PORT") -> Optional[str]:
    """Why ``host:port`` cannot be bound (in use, not allowed, no such address), naming it and the flag
    that picks another; None when it can (checked by binding and releasing it, before the model loads)."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"{shown} is already in use (another server, or this one already running?); "
                        f"choose another port with {flag} {port + 1} (or {setting}), or stop what holds it")
            return f"cannot listen on {shown}: {exc.strerror or exc}; choose another with --host / {flag}"
    return None


def wyoming_port_problem(settings) -> Optional[str]:
    """``port_problem`` for WYOMING_PORT. Checked here, once, because with WORKERS > 1 each worker binds it
    with SO_REUSEPORT, which would not notice another server of ours already holding it. Port 0 with
    several workers is resolved here to one free port that they all bind (exported as WYOMING_PORT)."""
    port = settings.wyoming_port
    if port is None:
        return None
    if port == settings.port and port != 0:
        return f"WYOMING_PORT and PORT are both {port}: give the Wyoming server a port of its own"
    if port == 0 and settings.workers > 1:
        family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((settings.host, 0))
            os.environ["WYOMING_PORT"] = str(probe.getsockname()[1])
        return None
    return port_problem(settings.host, port, "--wyoming-port", "WYOMING_PORT")


def serve(settings, workers: int) -> int:
    """Bind HOST:PORT here (port 0: any free one), export the port actually bound as PORT, then run the app
    on that socket in ``workers`` processes. The app's start-up lines (address, device, model versions,
    web UI URL) so name the real port; uvicorn logs "Uvicorn running on ..." as it binds. Request heads
    are bounded in size and time (MAX_HEADER_BYTES, HEADER_READ_TIMEOUT_S: ``http.server_limits``)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from .src.http.server_limits import server_config

    config = server_config("api.src.main:app", settings, host=settings.host, port=settings.port,
                           log_level=settings.log_level.lower(), workers=workers)
    sock = config.bind_socket()
    os.environ["PORT"] = str(sock.getsockname()[1])   # before the app (or its workers) read the settings
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return 0
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 3   # 3: uvicorn's own code for a start-up failure


if __name__ == "__main__":
    sys.exit(main())
