"""pyproject.toml's requires-python matches what the code uses: every .py file parses with the declared
minimum's grammar, and no file uses a newer standard-library API or runtime syntax than it allows."""
import ast
import re
import subprocess
import tomllib

import pytest

from tests.support.paths import REPO_ROOT

# APIs and run-time syntax newer than 3.9, as seen in an AST: modules, `module.attribute`, names.
NEWER = {
    ("annotation", "X | Y"): (3, 10),
    ("module", "tomllib"): (3, 11),
    ("attribute", "asyncio.timeout"): (3, 11),
    ("attribute", "asyncio.TaskGroup"): (3, 11),
    ("attribute", "typing.Self"): (3, 11),
    ("attribute", "enum.StrEnum"): (3, 11),
    ("attribute", "datetime.UTC"): (3, 11),
    ("name", "ExceptionGroup"): (3, 11),
    ("name", "BaseExceptionGroup"): (3, 11),
}


def declared_minimum() -> tuple[int, int]:
    spec = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = re.fullmatch(r">=\s*(\d+)\.(\d+)", spec.strip()).groups()
    return int(major), int(minor)


def python_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    return sorted(f for f in set(listed) if (REPO_ROOT / f).is_file())


def uses(tree: ast.AST) -> set[tuple[str, str]]:
    """The NEWER keys a module's AST touches: `import m` / `from m import x` count as the module and as
    `m.x`; `m.x` attributes are read through `import m` aliases; `X | Y` in an annotation counts as
    ("annotation", "X | Y") (evaluated at run time by pydantic and typing.get_type_hints)."""
    found, aliases = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(("module", alias.name))
                aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(("module", node.module))
            found.update(("attribute", f"{node.module}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            found.add(("attribute", f"{aliases[node.value.id]}.{node.attr}"))
        elif isinstance(node, ast.Name):
            found.add(("name", node.id))
        annotation = getattr(node, "annotation", None) or getattr(node, "returns", None)
        if annotation is not None and any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr)
                                          for n in ast.walk(annotation)):
            found.add(("annotation", "X | Y"))
    return found


def test_requires_python_is_a_lower_bound():
    assert declared_minimum() >= (3, 10)


@pytest.mark.parametrize("path", python_files())
def test_file_fits_the_declared_minimum(path):
    minimum = declared_minimum()
    source = (REPO_ROOT / path).read_text()
    tree = ast.parse(source, path, feature_version=minimum)   # grammar: match (3.10), except* (3.11), ...
    too_new = {f"{kind} {what} needs {'.'.join(map(str, need))}" for (kind, what), need in NEWER.items()
               if need > minimum and (kind, what) in uses(tree)}
    assert not too_new, f"{path}: raise requires-python or avoid {sorted(too_new)}"


def test_the_scan_sees_what_it_looks_for():
    tree = ast.parse("import asyncio as aio\nimport tomllib\nfrom typing import Self\n"
                     "def f(x: int | None) -> None:\n    async def g():\n        async with aio.timeout(1): pass\n")
    assert {("module", "tomllib"), ("attribute", "typing.Self"), ("attribute", "asyncio.timeout"),
            ("annotation", "X | Y")} <= uses(tree)
