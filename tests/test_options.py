"""--option values are typed by the factory's signature; an option no method knows is an error."""
import inspect

import pytest

from harness.cli import main
from harness.engine.options import bind, check_known, convert, parse_pairs
from harness.store.records import load_records


def _parameter(annotation, default=inspect.Parameter.empty):
    return inspect.Parameter("x", inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


@pytest.mark.parametrize("annotation, raw, expected", [
    ("int", "5", 5), ("float", "0.5", 0.5), ("bool", "true", True), ("bool", "0", False), ("str", "x", "x"),
    ("int | None", "none", None), ("int | None", "7", 7), ("bool | str", "maybe", "maybe"), (int, "3", 3),
])
def test_values_take_the_annotated_type(annotation, raw, expected):
    assert convert("x", raw, _parameter(annotation)) == expected


def test_unannotated_options_take_their_defaults_type_and_bad_values_are_errors():
    assert convert("x", "4", _parameter(inspect.Parameter.empty, 2)) == 4
    with pytest.raises(ValueError, match="expected int"):
        convert("radius", "abc", _parameter("int"))
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_pairs(["radius"])


def test_options_reach_only_the_methods_that_know_them():
    def telea(checkpoint=None, device=None, radius: int = 3):
        return None

    def plugin(checkpoint=None, device=None, **options):
        return None

    assert bind(telea, {"radius": "5", "sigma": "2"}, {"dataset": "celeba"}) == {"radius": 5}
    assert bind(plugin, {"sigma": "2"}) == {}  # **options names nothing
    with pytest.raises(ValueError, match="unknown option.s. kernal .did you mean kernel"):
        check_known({"plugin": plugin, "blur": lambda kernel=31, **options: None}, {"kernal": "15"})
    with pytest.raises(ValueError, match="radius") as error:
        check_known({"telea": telea}, {"raduis": "5"})
    assert "raduis" in str(error.value)


def test_cli_radius_is_an_int_and_a_misspelled_option_is_a_clear_error(tmp_path, capsys):
    common = ["--limit", "1", "--size", "48", "--out", str(tmp_path), "--no-progress", "--no-lpips"]
    assert main(["run", "--methods", "telea", "--option", "radius=5", *common]) == 0
    records = load_records(tmp_path)
    assert (records["status"] == "ok").all() and len(records) == 3
    capsys.readouterr()
    assert main(["run", "--methods", "telea,biharmonic", "--option", "raduis=5", *common]) == 2
    out = capsys.readouterr().err
    assert "unknown option(s) raduis" in out and "telea: radius" in out and "biharmonic: none" in out


def test_a_misspelled_option_of_a_plugin_taking_kwargs_is_an_error(tmp_path, capsys, monkeypatch):
    """The README's template factory takes ``**options``: ``kernal=15`` must not run with kernel=31."""
    (tmp_path / "blurplug.py").write_text(
        "from harness.predictor import Predictor\n"
        "class Fill(Predictor):\n"
        "    def __init__(self, kernel):\n"
        "        self.kernel = kernel\n"
        "    def predict(self, images, masks, **kwargs):\n"
        "        return images\n"
        "def factory(checkpoint=None, device=None, kernel: int = 31, **options):\n"
        "    return Fill(kernel)\n")
    monkeypatch.chdir(tmp_path)
    common = ["--limit", "1", "--size", "48", "--out", str(tmp_path / "runs"), "--no-progress", "--no-lpips"]
    assert main(["run", "--methods", "blurplug:factory", "--option", "kernal=15", *common]) == 2
    err = capsys.readouterr().err
    assert "unknown option(s) kernal (did you mean kernel?)" in err and "blurplug:factory: kernel" in err
