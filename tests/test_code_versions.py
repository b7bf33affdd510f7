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


#: name → (where its version lives, the modules whose code it covers)
PREDICTORS = {
    "prediction path": ("harness.prediction:PREDICTION_CODE_VERSION", ["harness.prediction", "harness.adapt"]),
    "classical methods": ("baselines.classical:PerImagePredictor.code_version", ["baselines.classical"]),
    "misf and variants": ("misf.predictor:MISFPredictor.code_version", ["misf.predictor", "misf.networks", "misf.filtering"]),
    "edgeconnect": ("baselines.edgeconnect:EdgeConnectPredictor.code_version",
                    ["baselines.edgeconnect", "baselines.edgeconnect_networks"]),
    "rfrnet": ("baselines.rfrnet:RFRNetPredictor.code_version", ["baselines.rfrnet", "baselines.rfrnet_networks"]),
    "ctsdg": ("baselines.ctsdg:CTSDGPredictor.code_version", ["baselines.ctsdg", "baselines.ctsdg_networks"]),
    "lama": ("baselines.lama:LamaPredictor.code_version", ["baselines.lama", "baselines.lama_networks"]),
    "pconv": ("baselines.pconv:PConvPredictor.code_version", ["baselines.pconv", "baselines.pconv_networks"]),
    "jpgnet": ("baselines.jpgnet:JPGNetPredictor.code_version",
               ["baselines.jpgnet", "baselines.jpgnet_networks", "baselines.edgeconnect", "baselines.edgeconnect_networks"]),
    "structureflow": ("baselines.structureflow:StructureFlowPredictor.code_version",
                      ["baselines.structureflow", "baselines.structureflow_networks", "baselines.rtv"]),
    "migan": ("baselines.migan:MIGANPredictor.code_version", ["baselines.migan", "baselines.migan_networks"]),
    "comodgan": ("baselines.comodgan:CoModGANPredictor.code_version",
                 ["baselines.comodgan", "baselines.comodgan_networks", "baselines.migan"]),
}


def versioned() -> dict[str, tuple[str, list[str]]]:
    """Every explicit version with the modules it covers: predictors, each metric, each profile's quantisation."""
    from harness.metrics.registry import metrics, profiles

    found = {name: (_version(where), modules) for name, (where, modules) in PREDICTORS.items()}
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
