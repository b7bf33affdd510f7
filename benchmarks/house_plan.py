"""The house plan as a run sees it: which modules the run handler's calls enter, and how often a
call climbs back up to a higher-level module.

Counting: ``harness run --methods telea --limit 1 --no-progress`` runs in-process under a trace of
the main thread from the moment the run handler (``cmd_run``) is entered. Every call from a
function of one project module (harness, masks, baselines, misf) to a function of another is an
edge; module-level code (imports) does not count, and each (caller module, callee module) pair is
counted once however often it is taken. The *configuration flow* keeps only the edges whose callee
is handed a configuration object as a parameter (the parsed arguments, the run spec, the run
configuration or a part of it, a method request, the execution settings, the shard, the
environment): the run command's arguments followed through the calls. Each module has a level
by its role (below); an edge into
a module of a higher level is a *climb*, into the same level a *stay*, into a lower one a
*descent*. The role table covers both layouts (flat ``harness/*.py`` before issue 20, the role
folders after), so the same script measures either checkout:

    python benchmarks/house_plan.py                # the code on sys.path (PYTHONPATH or the install)
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections import Counter

#: Highest level first: the command line, the engine, reports, storage and data, then what every
#: layer uses (registries, the plug-in API, metrics, masks) and the plug-ins themselves.
LEVELS = {
    5: ("harness.cli", "harness.train_cli", "harness.inventory", "harness.__main__"),
    4: ("harness.config", "harness.engine", "harness.runner", "harness.evaluation", "harness.pipeline",
        "harness.prediction", "harness.adapt", "harness.execution", "harness.distributed", "harness.progress",
        "harness.features", "harness.summary", "harness.options"),
    3: ("harness.reports", "harness.report", "harness.render", "harness.latex", "harness.marks", "harness.stats",
        "harness.plots", "harness.plotdata", "harness.grids", "harness.check", "harness.profiles_report",
        "harness.htmlreport"),
    2: ("harness.store", "harness.cache", "harness.cache_admin", "harness.records", "harness.results",
        "harness.atomic", "harness.csvfiles", "harness.data", "harness.spec", "harness.datasets",
        "harness.manifest", "harness.images", "baselines", "misf"),
    1: ("harness.registry", "harness.builtins", "harness.builtin_methods", "harness.predictor",
        "harness.checkpoints", "harness.environment", "harness.errors", "harness.hashing", "harness.metrics",
        "harness", "masks"),
}


def level(module: str) -> int:
    """The level of the longest role prefix that names ``module``."""
    best = (-1, 0)
    for value, prefixes in LEVELS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), value)
    if best[0] < 0:
        raise KeyError(f"{module}: no role in LEVELS")
    return best[1]


def _project(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in ("harness", "masks", "baselines", "misf")


#: Types whose instances carry the run command's arguments.
CONFIGURATION = {"Namespace", "RunSpec", "RunConfig", "ExecutionConfig", "ScoringConfig", "OutputConfig",
                 "MethodRequest", "Execution", "Shard", "Environment", "ModelFiles"}


def _takes_configuration(frame) -> bool:
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    values = [frame.f_locals.get(name) for name in names]
    return any(type(v).__name__ in CONFIGURATION or (isinstance(v, (list, tuple)) and v and
                                                      type(v[0]).__name__ in CONFIGURATION) for v in values)


def trace_run(argv: list[str]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The (caller module, callee module) edges of the run handler's calls: all of them, and those
    that hand a configuration object on."""
    from harness.cli import main

    edges: set[tuple[str, str]] = set()
    flow: set[tuple[str, str]] = set()
    active = [False]

    def tracer(frame, event, arg):
        if event != "call":
            return None
        code = frame.f_code
        if code.co_name == "cmd_run":
            active[0] = True
        if not active[0] or code.co_name == "<module>":
            return None
        callee, caller = frame.f_globals.get("__name__"), frame.f_back and frame.f_back.f_globals.get("__name__")
        if _project(callee) and _project(caller) and callee != caller:
            edges.add((caller, callee))
            if _takes_configuration(frame):
                flow.add((caller, callee))
        return None

    sys.settrace(tracer)
    try:
        main(argv)
    finally:
        sys.settrace(None)
    return edges, flow


def describe(title: str, edges: set[tuple[str, str]]) -> None:
    kinds: Counter = Counter()
    climbs = []
    for caller, callee in sorted(edges):
        step = level(callee) - level(caller)
        kind = "climb" if step > 0 else "stay" if step == 0 else "descent"
        kinds[kind] += 1
        if kind == "climb":
            climbs.append(f"{caller} (level {level(caller)}) -> {callee} (level {level(callee)})")
    modules = {m for edge in edges for m in edge}
    print(f"{title}: modules entered {len(modules)}; module-to-module edges {len(edges)}: "
          f"descents {kinds['descent']}, stays {kinds['stay']}, climbs {kinds['climb']}")
    for line in climbs:
        print("  climb:", line)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(HARNESS_CACHE=os.path.join(scratch, "cache"), HARNESS_RUNS=os.path.join(scratch, "runs"),
                          HARNESS_NO_LPIPS="1")
        edges, flow = trace_run(["run", "--methods", "telea", "--limit", "1", "--size", "64", "--no-progress"])
    assert threading.current_thread() is threading.main_thread()
    describe("every call", edges)
    describe("configuration flow", flow)


if __name__ == "__main__":
    main()
