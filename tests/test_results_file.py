"""Results people can pick up: results.json and records.parquet beside the records, files with the user's umask."""
import json
import os
import stat

import pandas as pd
import pytest

from harness.store.atomic import atomic_write_text
from harness.store.records import load_records
from harness.config import RunConfig
from harness.engine.runner import run
from harness.data.spec import RunSpec


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == mode


def test_results_json_and_parquet_sum_up_the_run(tmp_path):
    broken = "tests.plugin_methods:nan_first"  # NaN for the first item of each batch: every item at batch size 1
    result = run(RunConfig.of(RunSpec(limit=1, size=48), ["telea", "biharmonic", broken], out=tmp_path, metrics=("PSNR", "SSIM", "L1"), batch_size=1))
    data = json.loads((result.run_dir / "results.json").read_text())
    assert data["spec"]["size"] == 48 and data["run"] == result.run_dir.name
    records = load_records(result.run_dir)
    for label in ("telea", "biharmonic"):
        info = json.loads((result.run_dir / "methods" / label / "method.json").read_text())
        assert data["methods"][label]["fingerprint"] == info["fingerprint"] and data["methods"][label]["complete"]
        cells = [c for c in data["results"] if c["method"] == label]
        assert sorted(c["bucket"] for c in cells) == ["0-20", "20-40", "40-60"]
        assert all(c["n"] == 1 and c["failures"] == 0 for c in cells)
        mine = records[records["method"] == label].set_index("bucket")
        for cell in cells:  # each aggregate is the mean of the records (one item per bucket here)
            assert cell["PSNR"] == pytest.approx(mine.loc[cell["bucket"], "PSNR"])
    assert [(f["method"], f["stage"], f["count"]) for f in data["failures"]] == [(broken, "predict", 3)]
    assert "NaN" in data["failures"][0]["reason"] and data["environment"]["versions"]["torch"]
    assert all(c["n"] == 0 and c["failures"] == 1 for c in data["results"] if c["method"] == broken)
    table = pd.read_parquet(result.run_dir / "records.parquet")
    assert len(table) == len(records) == 9 and set(table["method"]) == {"telea", "biharmonic", broken}
