"""The layering of api/src (ARCHITECTURE.md): a module imports only from its own layer or the ones below.

Every import is checked, relative or absolute, at module level or inside a function or a
TYPE_CHECKING block. A failure lists each import that points up.
"""
import ast
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "api" / "src"

# bottom (0) to top; a package's rank applies to every module inside it
LAYERS = {
    "core": 0,          # settings, plain domain exceptions, phonemes, punctuation, voice naming
    "builds": 1,        # the model versions as data
    "inference": 2,     # model manager, backend, scheduler
    "structures": 3,    # request and response schemas
    "services": 4,      # speech, text processing, audio, download links, warm-up
    "http": 5,          # the error envelope and its handlers, middlewares, SSE, the SIGTERM drain
    "routers": 6, "dependencies": 6, "tools": 6,
    "main": 7, "startup": 7,   # the composition root and the app's lifespan
}
# the web framework: only the HTTP layer and above may import these
WEB_FRAMEWORKS = ("fastapi", "starlette")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> Optional[int]:
    """The rank of an ``api.src.*`` module; None for anything else (third-party, the standard library)."""
    parts = module.split(".")
    if parts[:2] != ["api", "src"] or len(parts) < 3:
        return None
    return LAYERS[parts[2]]


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from . import memory` names modules, not attributes: check each of them too
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names
                      if (SRC.parent.parent / Path(*f"{target}.{alias.name}".split("."))).with_suffix(".py").exists()]
    return found


def test_every_module_is_in_a_layer():
    unknown = {p.relative_to(SRC).parts[0] for p in SRC.rglob("*.py")} - {f"{name}.py" for name in LAYERS} - set(LAYERS)
    assert unknown <= {"__init__.py"}, f"add these to LAYERS (and ARCHITECTURE.md): {sorted(unknown)}"


def test_imports_point_down():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        own = layer_of(module_name(path))
        if own is None:
            continue
        for line, target in imports_of(path):
            rank = layer_of(target)
            if rank is not None and rank > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target} (layer {rank} > {own})")
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_below_the_http_layer_nothing_imports_the_web_framework():
    """core, builds, inference, structures and services know nothing of FastAPI or Starlette: a domain
    error becomes HTTP only in ``http/``."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        own = layer_of(module_name(path))
        if own is None or own >= LAYERS["http"]:
            continue
        for line, target in imports_of(path):
            if target.split(".")[0] in WEB_FRAMEWORKS:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not found, "HTTP below the http layer:\n" + "\n".join(found)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: a builds module importing services, relatively and inside a function."""
    fake = SRC / "builds" / "_layer_probe.py"
    fake.write_text("def f():\n    from ..services import speech\n")
    try:
        targets = [t for _, t in imports_of(fake)]
        assert "api.src.services" in targets and "api.src.services.speech" in targets
        assert layer_of("api.src.services.speech") > layer_of(module_name(fake))
    finally:
        fake.unlink()
