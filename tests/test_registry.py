"""The one registry mechanism: lazy targets, one error for unknown and conflicting names with
suggestions, entry points, and the code-version lock reading the method registry."""
import sys
from types import SimpleNamespace

import pytest

from harness import registry
from harness.errors import UnknownName
from harness.registry import CodeVersion, Registry, RegistryConflict


def test_a_lazy_target_is_imported_on_first_use_only(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "lazy_probe_module.py").write_text("VALUE = 42\n")
    things = Registry("thing")
    things.add("answer", "lazy_probe_module:VALUE", description="the answer")
    assert "lazy_probe_module" not in sys.modules and things.names()[-1] == "answer"
    assert things.get("answer") == 42 and "lazy_probe_module" in sys.modules
    assert things.info["answer"] == {"description": "the answer", "target": "lazy_probe_module:VALUE"}


def test_an_unknown_name_is_one_error_with_suggestions():
    with pytest.raises(UnknownName, match=r"unknown method 'telae'\. Did you mean 'telea'\? Known: .*telea"):
        registry.method_entry("telae")
    with pytest.raises(UnknownName, match=r"unknown dataset 'celeb'\. Did you mean 'celeba'\?"):
        registry.DATASETS.get("celeb")
    with pytest.raises(UnknownName, match=r"unknown mask set 'nvida'\. Did you mean 'nvidia'\?"):
        registry.MASK_SOURCES.get("nvida")
    with pytest.raises(UnknownName, match=r"unknown metric profile 'papr'\. Did you mean 'paper'\?"):
        registry_profiles().get("papr")
    with pytest.raises(UnknownName) as error:
        Registry("thing").get("zzz")
    assert "Did you mean" not in str(error.value)


def registry_profiles() -> Registry:
    from harness.metrics.registry import PROFILES

    return PROFILES


def test_a_name_registered_twice_with_other_targets_is_a_conflict():
    things = Registry("thing")
    things.add("a", "pkg.one:f")
    things.add("a", "pkg.one:f")  # the same registration again is harmless
    things.add("b", "harness.errors:UsageError")
    things.get("b")
    things.add("b", "harness.errors:UsageError")  # ... also once the target is loaded
    with pytest.raises(RegistryConflict, match="thing 'a' is already registered"):
        things.add("a", "pkg.two:f")
    with pytest.raises(RegistryConflict):
        registry.register_method("telea", "somewhere.else:telea")


def test_entry_points_of_a_registry_group_are_added_lazily(monkeypatch):
    seen = []

    def fake_plugin_entries(group):
        seen.append(group)
        return [SimpleNamespace(name="plugged", value="plugged_pkg.module:factory")] if group == "things.group" else []

    monkeypatch.setattr(registry, "plugin_entries", fake_plugin_entries)
    things = Registry("thing", "things.group")
    assert things.names() == ["plugged"] and "things.group" in seen
    assert things.info["plugged"]["plugin"] is True and things.items["plugged"] == "plugged_pkg.module:factory"


def test_installed_entry_points_are_read_once_for_every_group(monkeypatch):
    from importlib.metadata import EntryPoint, EntryPoints

    reads = []

    def fake_entry_points():
        reads.append(1)
        return EntryPoints([EntryPoint("a", "pkg_a:f", "group.one"), EntryPoint("b", "pkg_b:f", "group.two")])

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    registry._installed_entry_points.cache_clear()
    try:
        one, two = Registry("one", "group.one"), Registry("two", "group.two")
        assert (one.names(), two.names()) == (["a"], ["b"])
        assert len(reads) == 1
    finally:
        registry._installed_entry_points.cache_clear()


def test_every_kind_lives_in_the_registry():
    assert {"telea", "misf", "lama"} <= set(registry.METHODS)
    assert {"sample", "celeba", "folder"} <= set(registry.DATASETS)
    assert {"generated", "nvidia", "paired"} <= set(registry.MASK_SOURCES)
    assert {"run", "report", "check", "list", "train", "fig7"} <= set(registry.SUBCOMMANDS)
    assert {"results", "confidence", "paper-table2", "reproduction"} <= set(registry.REPORT_VIEWS)
    assert {"markdown", "latex", "csv"} <= set(registry.REPORT_FORMATS)
    from harness.metrics.registry import METRICS, PROFILES

    assert "paper.PSNR" in METRICS and "paper" in PROFILES


def test_the_lock_test_finds_a_builtin_method_without_a_code_version(monkeypatch):
    from tests.test_code_versions import builtin_methods, versioned

    monkeypatch.setitem(registry.METHODS.items, "new-baseline", "baselines.new_baseline:factory")
    monkeypatch.setitem(registry.METHODS.info, "new-baseline", {"target": "baselines.new_baseline:factory"})
    monkeypatch.setitem(registry.METHODS.items, "user-thing", "their_pkg.module:factory")
    found = builtin_methods()
    assert "new-baseline" in found and found["new-baseline"].get("code_version") is None
    assert "user-thing" not in found  # a user's plug-in needs no lock entry
    lock = CodeVersion("new baseline", "baselines.classical:PerImagePredictor.code_version", ("baselines.classical",))
    monkeypatch.setitem(registry.METHODS.info, "new-baseline", {"code_version": lock})
    assert "new baseline" in versioned()
