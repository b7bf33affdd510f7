"""A set-level metric asked for but not computed (too few items) keeps its column's note: never a
column that silently vanishes."""
import numpy as np
import pandas as pd

from harness.reports.report import render


def _records(n: int) -> pd.DataFrame:
    return pd.DataFrame({"run": "r", "dataset": "sample", "method": "telea", "bucket": "0-20", "status": "ok",
                         "item_id": [f"i{k}" for k in range(n)], "PSNR": np.linspace(20, 22, n)})


def _set_metrics(n: int, value: float, note: str) -> pd.DataFrame:
    return pd.DataFrame([{"run": "r", "dataset": "sample", "method": "telea", "bucket": "0-20", "metric": "FID",
                          "n": n, "value": value, "ci_low": np.nan, "ci_high": np.nan, "note": note, "features": "f"}])


def test_fid_not_computed_for_two_items_is_a_note_in_every_text_format():
    note = "not computed: 2 item(s), a set-level metric needs at least 5"
    for fmt in ("markdown", "latex", "csv"):
        text = render(_records(2), fmt, set_metrics=_set_metrics(2, np.nan, note))
        assert "FID" in text, (fmt, text)
        if fmt != "csv":  # the CSV keeps the empty column itself
            assert "FID: no value in these runs (" + note in text, (fmt, text)


def test_a_computed_fid_has_its_column_and_no_such_note():
    text = render(_records(6), "markdown", set_metrics=_set_metrics(6, 12.5, ""))
    assert "12.5" in text and "no value in these runs" not in text
