"""The architecture, asserted: what may import what, and where platform knowledge may live."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "reconciler"
PLATFORM_NAMES = {"vertex", "gemini-api"}
MAY_NAME_PLATFORMS = ("platforms/", "manifest/schema.py", "emulator/")  # the emulator serves the APIs themselves


def modules() -> dict[str, ast.Module]:
    found = {}
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(file.read_text(encoding="utf-8"), str(file))
    return found


def imports(name: str, tree: ast.Module) -> set[str]:
    """Every product module `name` imports, anywhere in it (type-checking and function-local imports too)."""
    package = name if (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists() else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names} & set(MODULES)
            out |= submodules or {base}  # `from package import module` is an edge to the module only
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {m for m in out if m in MODULES and m != name and m not in ancestors}


MODULES = modules()
GRAPH = {name: imports(name, tree) for name, tree in MODULES.items()}


def test_no_import_cycles():
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[name] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_the_emulator_imports_nothing_from_the_product():
    leaks = {m: sorted(t for t in GRAPH[m] if not t.startswith("reconciler.emulator"))
             for m in GRAPH if m.startswith("reconciler.emulator")}
    assert {m: t for m, t in leaks.items() if t} == {}


def test_only_platforms_name_a_platform():
    named = []
    for name, tree in MODULES.items():
        path = name.replace(".", "/").removeprefix("reconciler/")
        if any(path.startswith(allowed.removesuffix(".py")) for allowed in MAY_NAME_PLATFORMS):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in PLATFORM_NAMES:
                named.append(f"{name}:{node.lineno}: {node.value!r}")
    assert named == []


@pytest.mark.parametrize("module", ["reconciler.plan.planner", "reconciler.observed", "reconciler.desired",
                                    "reconciler.state.model", "reconciler.ownership"])
def test_the_core_loads_no_io(module):
    """Importing the pure core loads no HTTP client, API client, state backend or emulator."""
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    io = {m for m in loaded if m.split(".")[0] in ("httpx", "rich", "yaml") or m.startswith("google.")
          or m.startswith(("reconciler.clients", "reconciler.emulator", "reconciler.state.local",
                           "reconciler.state.run_lock", "reconciler.state.atomic", "reconciler.apply",
                           "reconciler.refresh", "reconciler.operations", "reconciler.cli"))}
    assert io == set()


def test_ownership_imports_nothing_else_from_the_product():
    assert GRAPH["reconciler.ownership"] == set()


def test_small_modules_and_classes():
    too_big = []
    for name, tree in MODULES.items():
        lines = len((PACKAGE.parent / Path(*name.split("."))).with_suffix(".py").read_text().splitlines()) \
            if not (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists() else 0
        if lines > 400:
            too_big.append(f"module {name}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 150:
                too_big.append(f"class {name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_big == []
