"""Dependencies point one way: a small core that imports nothing else of the project, models that
import only the core, a harness that imports no plug-in package, top-level packages that never
import each other both ways, no import cycles, and light entry points.

Imports are read from the syntax tree, module level and inside functions alike."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "masks", "baselines", "misf")
#: Plug-in packages: the harness (and masks, the lowest layer of the core) imports none of them.
PLUGINS = ("baselines", "misf")
#: Plug-in modules that build on the whole harness (registrations, commands, report views), not
#: only on the core a model needs.
APPLICATION = ("misf.plugin", "baselines.plugin", "baselines.published_mat", "misf.paper", "misf.training_data")
#: The core: the predictor interface, image I/O, the spec, weights loading, metric objects and
#: the small utilities they need (harness.guard: the registry keeps a plug-in's factory from ending
#: the run), and the registries plug-ins add themselves to. Everything else may import it; it imports
#: nothing else.
CORE = {"harness.predictor", "harness.data.images", "harness.data.spec", "harness.checkpoints", "harness.hashing",
        "harness.store.atomic", "harness.store.csvfiles", "harness.errors", "harness.registry",
        "harness.environment", "harness.guard"}


def _is_core(module: str) -> bool:
    return module in CORE or module == "harness.metrics" or module.startswith("harness.metrics.")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported anywhere in the file (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                     for alias in node.names]
        else:
            continue
        found.update(n for n in names if n in modules)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return result


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_imports_only_the_core():
    bad = {m: sorted(i for i in deps if not _is_core(i) and i != "harness") for m, deps in _graph().items() if _is_core(m)}
    assert {m: d for m, d in bad.items() if d} == {}


def _application(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in APPLICATION)


def test_models_import_only_the_core_and_their_own_package():
    bad = {}
    for module, deps in _graph().items():
        package = module.split(".")[0]
        if package in PLUGINS and not _application(module):
            outside = sorted(d for d in deps if d.split(".")[0] != package and not _is_core(d))
            if outside:
                bad[module] = outside
    assert bad == {}


def test_the_core_imports_no_plugin_package():
    bad = {m: sorted(d for d in deps if d.split(".")[0] in PLUGINS)
           for m, deps in _graph().items() if m.split(".")[0] not in PLUGINS}
    assert {m: d for m, d in bad.items() if d} == {}


def _package_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(m.split(".")[0], d.split(".")[0]) for m, deps in graph.items() for d in deps
            if m.split(".")[0] != d.split(".")[0]}


def test_no_two_top_level_packages_import_each_other():
    edges = _package_edges(_graph())
    assert sorted((a, b) for a, b in edges if (b, a) in edges and a < b) == []
    assert ("harness", "masks") in edges  # masks is the core's lowest layer: the harness uses it, never the reverse


def test_the_rules_see_imports_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from misf.paper import tables\n")
    assert _imports(probe, {"misf.paper": Path(), "misf.paper.tables": Path()}) == {"misf.paper.tables"}
    assert _package_edges({"harness.x": {"misf.y"}, "misf.y": {"harness.x"}}) == {("harness", "misf"), ("misf", "harness")}


def test_the_harness_package_itself_loads_nothing():
    probe = "import sys, harness; print(sorted(m for m in sys.modules if m.split('.')[0] in %r and m != 'harness'))" % (PACKAGES,)
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def _imports_torch(code: str) -> bool:
    probe = f"import sys\n{code}\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1] == "True"


def test_report_and_help_do_not_import_torch():
    assert not _imports_torch("import harness.reports.report, misf.paper.tables, harness.reports.stats")
    assert not _imports_torch(
        "from harness.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "for sub in ('run', 'report', 'check', 'list', 'cache', 'train', 'compare', 'fig7'):\n"
        "    try:\n        main([sub, '--help'])\n    except SystemExit:\n        pass"
    )
    assert _imports_torch("import harness.engine.runner")  # the probe can see torch when it is imported
