"""The emulator's package layout: every module imports on its own, the import graph has no cycle,
the service registry routes, and the control plane reaches services only through typed methods."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import requests

from chaos.emulator.app import Emulator
from chaos.emulator.services import SERVICES
from tests.conftest import seed_basic

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chaos" / "emulator"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks (not imported at run time)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module -> chaos.emulator modules it imports at run time (at any depth of its body)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from pkg import sub" imports the submodule when there is one
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]  # fmt: skip
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a path [a, b, ..., a], or None; iterative DFS, bounded by the graph."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in sorted(graph):
        if state.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        path = [root]
        state[root] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(graph.get(nxt, ()))))
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_emulator_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 30 and "chaos.emulator.fc.service" in graph["chaos.emulator.services"]
    assert find_cycle(graph) is None


def test_only_the_composition_root_and_its_users_import_app() -> None:
    importers = {name for name, edges in import_graph().items() if "chaos.emulator.app" in edges}
    assert importers == {"chaos.emulator.server", "chaos.emulator.seedfile"}


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported first (nothing of chaos.emulator loaded before it), in one child process."""
    script = (
        "import importlib, json, sys\n"
        "names = json.loads(sys.argv[1]); failed = {}\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m == 'chaos' or m.startswith('chaos.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed[name] = repr(exc)\n"
        "print(json.dumps(failed))\n"
    )
    names = sorted(_modules())
    done = subprocess.run(  # noqa: S603 - our interpreter, our script, module names from our tree
        [sys.executable, "-c", script, json.dumps(names)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}


def test_the_control_plane_uses_no_service_internals() -> None:
    for name in ("control.py", "control_models.py", "control_guard.py", "seedfile.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        touched = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not touched & {"backend", "lock", "settle", "_functions", "_records"}, name


def test_the_registry_builds_every_service_and_routes_by_it(endpoint: str, emulator: Emulator) -> None:
    assert len(SERVICES) == len(emulator.services)
    assert emulator.service_names == ["fc", "notify", "ecs", "alidns", "cms", "ebs"]
    assert emulator.backend is emulator.ebs.backend
    fc = requests.post(f"http://{endpoint}/2016-08-15/nothing", timeout=5)
    assert fc.status_code == 400 and fc.json()["ErrorCode"] == "PathNotSupported"
    # anything unclaimed lands on the last service: the gateway's answer for an unknown API
    other = requests.get(f"http://{endpoint}/somewhere", timeout=5)
    assert other.status_code == 404 and other.json()["Code"] == "InvalidApi.NotFound"


def test_the_ebs_surface_reads_what_the_api_wrote(emulator: Emulator) -> None:
    seed_basic(emulator)
    snap = emulator.ebs.snapshot()
    assert [p["ReplicaPairId"] for p in snap["pairs"]] == sorted(p["ReplicaPairId"] for p in snap["pairs"])
    pid = snap["pairs"][0]["ReplicaPairId"]
    assert emulator.ebs.record("pair", pid) == snap["pairs"][0]
    assert emulator.ebs.record("pair", "pair-none") is None and emulator.ebs.group_members("pg-none") == []
    assert emulator.ebs.group_members("pg-1") == ["pair-g0", "pair-g1"]
    emulator.ebs.flip("pair", pid, "failovering")
    emulator.advance(3600)
    assert emulator.ebs.record("pair", pid)["Status"] == "failovered"  # type: ignore[index]


def test_package_level_names_load_lazily() -> None:
    script = (
        "import sys\n"
        "import chaos.emulator.config\n"
        "assert 'chaos.emulator.app' not in sys.modules, 'config pulled in the whole emulator'\n"
        "from chaos.emulator import Emulator, FleetSpec, FunctionSpec, make_context, running\n"
        "from chaos.emulator.app import Emulator as App\n"
        "from chaos.emulator.ebs.models import FleetSpec as Spec\n"
        "assert Emulator is App and FleetSpec is Spec and callable(make_context) and callable(running)\n"
        "assert FunctionSpec.__module__ == 'chaos.emulator.fc.registry'\n"
        "try:\n"
        "    from chaos.emulator import Nothing\n"
        "except ImportError:\n"
        "    print('ok')\n"
    )
    done = subprocess.run(  # noqa: S603 - our interpreter and our script
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
