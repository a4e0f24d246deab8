"""The import graph keeps its shape: one direction for every import (docs/architecture.md).

Read from the source with ``ast`` (imports under ``if TYPE_CHECKING:`` are types, not
dependencies, and are left out):

- no cycle among the modules of server/, crisis/, media/ and signaling/, counting imports inside
  functions too;
- server/ never imports crisis/, media/ or signaling/, except in its composition roots (the app
  and the command line), which wire the features together;
- inside server/, layers point down: core/ and storage/ stand on nothing else; transport/ (the
  wire) knows no feature; chat/ and accounts/ never reach up into groups, scheduling, matching,
  rewards or translation;
- crisis/ uses only what every feature may use (core/, transport/, storage/, the typed Services,
  and the chat contract: hook types, room access, a room's sealed text), never a chat feature;
- media/ needs only storage from server/ and raises its own MediaError (signaling translates it);
- an import inside a function says why, in a comment beside or just above it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "crisis", "media", "signaling")
COMPOSITION_ROOTS = {"server.app", "server.__main__", "server.admin", "crisis.__main__", "crisis.export"}
# What every feature may stand on: the core, the wire, storage, the typed Services, and the chat
# contract other features build on (the hook types, room access, a room's sealed text).
SHARED = ("server.core", "server.transport", "server.storage")
CHAT_CONTRACT = {"server.chat.message_hooks", "server.chat.room_access", "server.chat.room_text"}
FEATURE_PACKAGES = ("groups", "scheduling", "matching", "mentorship", "rewards", "translation", "files", "goals", "private_rooms")


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join(package + ([node.module] if node.module else []))
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in names if name in MODULES]


def _type_only(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(child) for child in ast.walk(node))
    return ids


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """Edges between our modules, and function-local imports that carry no comment."""
    edges: dict[str, set[str]] = defaultdict(set)
    unexplained = []
    for module, path in MODULES.items():
        source = path.read_text()
        lines = source.splitlines()
        tree = ast.parse(source)
        skip = _type_only(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                edges[module].update(t for t in _targets(module, node) if t != module)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
                    near = lines[max(node.lineno - 4, 0): node.lineno]
                    if not any("#" in line for line in near):
                        unexplained.append((module, node.lineno, ast.unparse(node)))
    return edges, unexplained


EDGES, UNEXPLAINED = _graph()


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(set(edges) | {t for targets in edges.values() for t in targets}):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    assert len(MODULES) > 80 and EDGES["server.chat.messages"], "the graph was read"
    assert _cycles(EDGES) == []


def test_server_features_never_import_crisis_media_or_signaling() -> None:
    wrong = sorted((m, t) for m, targets in EDGES.items() if m.startswith("server") and m not in COMPOSITION_ROOTS
                   for t in targets if t.split(".")[0] in ("crisis", "media", "signaling"))
    assert wrong == []


def test_crisis_uses_only_the_shared_core_of_the_server() -> None:
    wrong = sorted((m, t) for m, targets in EDGES.items() if m.startswith("crisis") and m not in COMPOSITION_ROOTS
                   for t in targets if t.startswith("server") and not _within(t, SHARED)
                   and t not in CHAT_CONTRACT and t != "server.services")
    assert wrong == []


def test_every_import_inside_a_function_says_why() -> None:
    assert UNEXPLAINED == []


def test_the_check_itself_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_media_needs_only_storage_from_the_server_and_raises_its_own_errors() -> None:
    wrong = sorted((m, t) for m, targets in EDGES.items() if m.startswith("media")
                   for t in targets if t.startswith("server") and not t.startswith("server.storage"))
    assert wrong == []


def test_the_core_stands_only_on_storage() -> None:
    wrong = sorted((m, t) for m, targets in EDGES.items() if _within(m, ("server.core", "server.storage"))
                   for t in targets if t.startswith("server") and not _within(t, ("server.core", "server.storage")))
    assert wrong == []


def test_the_wire_knows_no_feature() -> None:
    wrong = sorted((m, t) for m, targets in EDGES.items() if _within(m, ("server.transport",))
                   for t in targets if t.startswith("server") and not _within(t, SHARED) and t != "server.services")
    assert wrong == []


def test_chat_and_accounts_never_reach_up_into_a_feature() -> None:
    features = tuple(f"server.{name}" for name in FEATURE_PACKAGES)
    wrong = sorted((m, t) for m, targets in EDGES.items() if _within(m, ("server.chat", "server.accounts"))
                   for t in targets if _within(t, features))
    assert wrong == []
