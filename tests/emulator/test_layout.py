"""The emulator's house rules, checked on its source with ``ast`` (every import counts: module level, inside
functions, and under ``TYPE_CHECKING``):

- no import circles among the emulator's modules;
- one folder per protocol front, and no module of a front imports another front;
- a front never imports the process that composes it (app, server, runner, cli);
- inside the AMQP front, the pure protocol layer imports nothing above it, and the transport never imports the
  Service Bus dialect (it reaches it through ``NodeDirectory``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "queue_emulator"
ROOT = Path(__file__).resolve().parents[2] / "emulator" / PACKAGE
FRONTS = ("rest", "amqp", "admin")
PROCESS = tuple(f"{PACKAGE}.{name}" for name in ("app", "server", "runner", "cli", "__main__"))


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in ROOT.rglob("*.py")}


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> list[str]:
    """The emulator modules an ``import from`` statement loads (empty for anything outside the package)."""
    if node.level:
        base = module.split(".") if _is_package(module) else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if target != PACKAGE and not target.startswith(PACKAGE + "."):
        return []
    found = [target] if target in MODULES else []
    for alias in node.names:  # ``from . import control`` loads the submodule ``control``
        if f"{target}.{alias.name}" in MODULES:
            found.append(f"{target}.{alias.name}")
    return found


def _imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, node))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
    found.discard(module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _front_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FRONTS else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_whole_package() -> None:
    # The checks below are only as good as the graph: it must hold every front's modules and real edges.
    assert f"{PACKAGE}.rest.routes" in GRAPH and f"{PACKAGE}.amqp.connection" in GRAPH
    assert f"{PACKAGE}.rest.control" in GRAPH[f"{PACKAGE}.rest.routes"]  # ``from . import control``
    assert f"{PACKAGE}.amqp.session" in GRAPH[f"{PACKAGE}.amqp.connection"]
    assert f"{PACKAGE}.amqp.servicebus" in GRAPH[f"{PACKAGE}.app"]


def test_no_import_circles() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("front", FRONTS)
def test_a_front_imports_no_other_front_and_not_the_process(front: str) -> None:
    offending = []
    for module, targets in GRAPH.items():
        if _front_of(module) != front:
            continue
        for target in targets:
            other = _front_of(target)
            if (other is not None and other != front) or target in PROCESS:
                offending.append(f"{module} -> {target}")
    assert offending == []


def test_amqp_layers_only_import_downwards() -> None:
    protocol = f"{PACKAGE}.amqp.protocol"
    dialect = f"{PACKAGE}.amqp.servicebus"
    offending = []
    for module, targets in GRAPH.items():
        for target in targets:
            if module.startswith(protocol) and target.startswith(f"{PACKAGE}.") and not target.startswith(protocol):
                offending.append(f"{module} -> {target}")  # the pure protocol layer knows nothing above it
            transport = module.startswith(f"{PACKAGE}.amqp.") and not module.startswith((protocol, dialect))
            if transport and target.startswith(dialect):
                offending.append(f"{module} -> {target}")  # the transport never knows the dialect
    assert offending == []
