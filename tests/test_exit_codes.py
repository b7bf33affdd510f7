"""The exit code tells a script whether anything was scored: 3 when a method scored no item."""
from harness.cli import main
from harness.store.records import load_records

COMMON = ["--limit", "1", "--size", "48", "--no-progress", "--no-lpips"]


def test_a_method_with_no_scored_item_exits_3_after_writing_the_others(tmp_path, capsys):
    code = main(["run", "--methods", "telea,bad=tests.plugin_methods:wrong_shape", "--out", str(tmp_path), *COMMON])
    assert code == 3
    assert "bad scored no item (exit code 3)" in capsys.readouterr().err
    records = load_records(tmp_path)
    assert (records[records["method"] == "telea"]["status"] == "ok").all()
    assert (records[records["method"] == "bad"]["status"] == "failed").all()


def test_some_failed_items_exit_0_and_1_under_strict(tmp_path, capsys):
    args = ["run", "--methods", "telea,half=tests.plugin_methods:nan_first", "--out", str(tmp_path), *COMMON,
            "--limit", "2", "--batch-size", "2"]
    assert main(args) == 0  # nan_first fails the first item of each batch only: the method scored the others
    records = load_records(tmp_path)
    half = records[records["method"] == "half"]
    assert (half["status"] == "failed").any() and (half["status"] == "ok").any()
    assert main([*args, "--strict"]) == 1
