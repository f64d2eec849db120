"""The layering of api/src (ARCHITECTURE.md): a module imports only from its own layer or the ones below,
and no modules import each other (no cycle, even within a layer).

Every import is checked, relative or absolute, at module level or inside a function or a
TYPE_CHECKING block. A failure lists each import that points up, and each set of modules in a cycle.
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
    "wyoming_server": 5,   # the Wyoming protocol's server (Home Assistant), beside the HTTP one
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


def _is_module(name: str) -> bool:
    """A module file or a package folder of this repository."""
    path = SRC.parent.parent / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def absolute_target(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module name a ``from ... import`` in ``path`` names (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    base = package.split(".")
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = absolute_target(path, node)
            # `from . import memory` names modules, not attributes: check each of them too
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names
                      if _is_module(f"{target}.{alias.name}")]
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


def test_the_wyoming_server_knows_no_web_framework():
    """wyoming_server/ sits beside http/ (rank 5) but speaks no HTTP: it takes what it needs of http/
    (the drain's ``Admission``), never FastAPI or Starlette."""
    found = [f"{path.relative_to(ROOT)}:{line} imports {target}"
             for path in sorted((SRC / "wyoming_server").rglob("*.py"))
             for line, target in imports_of(path) if target.split(".")[0] in WEB_FRAMEWORKS]
    assert not found, "\n".join(found)


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


def module_of(target: str) -> Optional[str]:
    """The ``api.src`` module a dotted name lives in: itself when it is a module or package, else the
    nearest enclosing one (``api.src.x.y.Name`` -> ``api.src.x.y``); None outside ``api.src``."""
    parts = target.split(".")
    while len(parts) > 2 and parts[:2] == ["api", "src"]:
        path = SRC.parent.parent / Path(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return None


def import_graph(paths) -> dict[str, set[str]]:
    """Module -> the ``api.src`` modules it imports, every import counted (TYPE_CHECKING and in functions).

    ``from pkg import name`` depends on ``pkg.name`` when that is a module, else on ``pkg`` itself; so
    ``from . import batching`` is no dependency on the package's ``__init__``.
    """
    graph = {}
    for path in paths:
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {module_of(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                target = absolute_target(path, node)
                edges |= {module_of(f"{target}.{alias.name}") for alias in node.names}
        graph[module_name(path)] = edges - {None, module_name(path)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan), each sorted; a cycle lies in each."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                found.append(sorted(members))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    """No two modules of api/src import each other, directly or around a loop, by any import at all
    (a TYPE_CHECKING import or one inside a function is a dependency too: it hides the loop, not ends it)."""
    found = cycles(import_graph(sorted(SRC.rglob("*.py"))))
    assert not found, "modules that import each other, around a loop:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_check_sees_a_hidden_cycle():
    """The checker itself: one import under TYPE_CHECKING, the other inside a function, still a cycle."""
    a, b = SRC / "builds" / "_cycle_probe_a.py", SRC / "builds" / "_cycle_probe_b.py"
    a.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ._cycle_probe_b import B\n")
    b.write_text("def f():\n    from . import _cycle_probe_a\n")
    try:
        assert cycles(import_graph([a, b])) == [["api.src.builds._cycle_probe_a", "api.src.builds._cycle_probe_b"]]
        b.write_text("from . import base\n")
        assert cycles(import_graph([a, b])) == []
    finally:
        a.unlink()
        b.unlink()
