"""Explicit code versions held against hashes of the code they cover.

Cache keys contain explicit versions (the prediction path's, each built-in predictor's, each
metric profile's) rather than hashes of source files, so a harmless refactor does not throw a
large cache away. This test is what keeps the versions honest: when covered code changes
(comments, docstrings and formatting do not count), it fails until the lock file is rewritten,
and the person rewriting it decides whether the version must be bumped:

    python -m tests.test_code_versions --write    # after bumping the version if outputs can move
"""
import ast
import hashlib
import importlib
import json
import sys
from pathlib import Path

LOCK = Path(__file__).with_name("code_versions.json")


def _version(path: str) -> str:
    """The value at "module:attr.attr" (e.g. a class's code_version)."""
    module, _, attrs = path.partition(":")
    value = importlib.import_module(module)
    for attr in attrs.split("."):
        value = getattr(value, attr)
    return str(value)


#: The core's own explicit version: the prediction path every predictor's outputs pass through.
CORE = {"prediction path": ("harness.engine.prediction:PREDICTION_CODE_VERSION",
                            ["harness.engine.prediction", "harness.engine.adapt"])}
#: Packages of this repository: a method whose factory lives in one of them is a built-in.
BUILT_IN = ("harness", "baselines", "misf")


def builtin_methods() -> dict[str, dict]:
    """The registry's built-in methods (factories in this repository) with what they registered."""
    from harness.registry import METHODS

    return {name: METHODS.info[name] for name in METHODS.names()
            if isinstance(METHODS.items[name], str) and METHODS.items[name].split(".")[0] in BUILT_IN}


def versioned() -> dict[str, tuple[str, list[str]]]:
    """Every explicit version with the modules it covers: the prediction path, each built-in
    predictor's (from the method registry), each metric, each profile's quantisation."""
    from harness.metrics.registry import metrics, profiles

    found = {name: (_version(where), modules) for name, (where, modules) in CORE.items()}
    for info in builtin_methods().values():
        lock = info.get("code_version")
        if lock is not None:
            found[lock.name] = (_version(lock.where), list(lock.covers))
    for metric in metrics().values():
        found[f"metric {metric.key}"] = (str(metric.version), [metric.implementation.partition(":")[0]])
    for profile in profiles().values():
        found[f"profile {profile.name} quantisation"] = (str(profile.quantise_version), [profile.quantise.partition(":")[0]])
    return found


class _NoDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


def code_hash(modules: list[str]) -> str:
    """SHA-256 of the modules' syntax trees without docstrings (comments and layout never count)."""
    digest = hashlib.sha256()
    for name in modules:
        source = Path(importlib.import_module(name).__file__).read_text()
        digest.update(name.encode())
        digest.update(ast.dump(_NoDocstrings().visit(ast.parse(source))).encode())
    return digest.hexdigest()


def current() -> dict[str, dict[str, str]]:
    return {name: {"version": version, "sha256": code_hash(modules)} for name, (version, modules) in versioned().items()}


def test_every_versioned_code_path_matches_its_lock_entry():
    locked = json.loads(LOCK.read_text())
    now = current()
    assert sorted(locked) == sorted(now), "tests/code_versions.json lists other names than versioned()"
    stale = [name for name in now if now[name] != locked[name]]
    hints = [
        f"{name}: version {locked.get(name, {}).get('version')} -> {now[name]['version']}, code "
        f"{'changed' if locked[name]['sha256'] != now[name]['sha256'] else 'unchanged'}"
        for name in stale
    ]
    assert not stale, (
        "Code covered by an explicit version changed. If the change can move outputs or metric values, bump the "
        "version; then run `python -m tests.test_code_versions --write`.\n" + "\n".join(hints)
    )


def test_every_builtin_predictor_and_metric_is_covered_by_the_lock():
    """A built-in method registered without a code version, or whose version or a covered module
    cannot be found, fails here: its cache keys would not be held against its code."""
    unversioned = sorted(name for name, info in builtin_methods().items() if info.get("code_version") is None)
    assert unversioned == [], f"built-in methods without code_version=CodeVersion(...) in their registration: {unversioned}"
    locked = json.loads(LOCK.read_text())
    missing = sorted(name for name in versioned() if name not in locked)
    assert missing == [], f"not in tests/code_versions.json (run `python -m tests.test_code_versions --write`): {missing}"


def test_the_hash_ignores_docstrings_and_comments_but_not_code(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = tmp_path / "versioned_probe.py"

    def hashed(source: str) -> str:
        probe.write_text(source)  # code_hash reads the file, not the imported module
        return code_hash(["versioned_probe"])

    plain = hashed('"""Doc."""\ndef f(x):\n    return x + 1\n')
    assert hashed('"""Other."""\n# comment\ndef f(x):\n    """Doc."""\n\n    return x + 1  # note\n') == plain
    assert hashed('"""Doc."""\ndef f(x):\n    return x + 2\n') != plain


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        LOCK.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
        print(f"wrote {LOCK}")
    else:
        print(json.dumps(current(), indent=1, sort_keys=True))
