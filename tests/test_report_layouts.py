"""The paper-style layouts of a run's results: the wide view (methods × metric × bucket) and the
compact results table keep every number's n in a note, name each method that differs, never show
an empty cell as a number, and compile as LaTeX; the paired view says which test decides."""
import io
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from harness.cli.app import main
from harness.errors import UsageError
from harness.reports.table import render
from harness.reports.views import ViewOptions, build


def _records() -> pd.DataFrame:
    """Two methods, two buckets; b scores 3 of 4 items of 20-40 (one failed), and nothing of 0-20 fails."""
    rows = []
    for method, shift in (("a", 0.0), ("b", 1.0)):
        for bucket, base in (("0-20", 30.0), ("20-40", 24.0)):
            for i in range(4):
                failed = method == "b" and bucket == "20-40" and i == 3
                rows.append({"run": "r1", "dataset": "sample", "method": method, "bucket": bucket, "item_id": f"{bucket}/{i}",
                             "hole_ratio": 0.1 if bucket == "0-20" else 0.3, "status": "failed" if failed else "ok",
                             "PSNR": np.nan if failed else base + shift + i, "L1": np.nan if failed else 3.0 - shift + 0.1 * i})
    return pd.DataFrame(rows)


EMPTY = pd.DataFrame(columns=["run", "dataset", "method", "bucket", "metric", "value", "note"])


def test_wide_view_groups_each_metrics_buckets_and_notes_n_per_cell():
    records = _records()
    [table] = build("wide", records, EMPTY)
    assert [(c.group, c.text) for c in table.columns] == [("", "method"), ("PSNR ↑", "0-20"), ("PSNR ↑", "20-40"),
                                                         ("L1 ↓", "0-20"), ("L1 ↓", "20-40")]
    rows = {row[0].text: row for row in table.rows}
    # hand means: a 0-20 PSNR (30+31+32+33)/4; b 20-40 PSNR over its three scored items (25+26+27)/3
    assert rows["a"][1].value == pytest.approx(31.5) and rows["b"][2].value == pytest.approx(26.0)
    assert rows["b"][4].value == pytest.approx(2.1)  # L1 (2.0 + 2.1 + 2.2) / 3
    # best by the means over the items both scored: b wins PSNR and L1 everywhere
    assert [c.rank for c in rows["b"][1:]] == [1, 1, 1, 1] and [c.rank for c in rows["a"][1:]] == [0, 0, 0, 0]
    assert rows["b"][0].marks and rows["b"][0].marks[0].text == "*"  # fewer items than a: marked partial
    first = "".join(part.text for part in table.notes[0])
    assert first == "n, images scored per method: 0-20: 4 · 20-40: 4 (b 3, 1 failed); 1 failed item(s), named above"
    data = pd.read_csv(io.StringIO(render(table, "csv")))  # the CSV: every mean with its n and failures
    assert data.set_index(["method", "bucket"]).loc[("b", "20-40"), ["n", "failures", "PSNR"]].tolist() == [3, 1, 26.0]


def test_an_empty_cell_is_a_dash_never_a_number():
    records = _records()
    records = records[~((records["method"] == "b") & (records["bucket"] == "0-20"))]  # b has no item in 0-20
    [table] = build("wide", records, EMPTY)
    b = next(row for row in table.rows if row[0].text == "b")
    assert b[1].text == "–" and np.isnan(b[1].value)
    assert "0-20: 4 (b 0)" in "".join(p.text for p in table.notes[0])
    markdown = render(table, "markdown")
    assert "| b* " in markdown and "| –" in markdown


def test_compact_results_drop_n_and_fail_but_keep_them_in_a_note():
    records = _records()
    [full] = build("results", records, EMPTY)
    [compact] = build("results", records, EMPTY, ViewOptions(compact=True))
    assert {c.text for c in full.columns} >= {"n", "fail"} and not {c.text for c in compact.columns} & {"n", "fail"}
    kept = [c for c in full.columns if c.text not in ("n", "fail")]
    assert list(compact.columns) == kept
    values = [[c.value for c, k in zip(row, full.columns) if k.text not in ("n", "fail")] for row in full.rows]
    assert [[c.value for c in row] for row in compact.rows] == values
    assert "".join(p.text for p in compact.notes[0]).startswith("n, images scored per method: 0-20: 4 · 20-40: 4 (b 3, 1 failed)")
    assert render(compact, "csv") == render(full, "csv")  # the CSV keeps n and failures as data


def test_compact_is_an_option_of_the_results_view_only(tmp_path):
    with pytest.raises(UsageError, match="--compact does not apply to the wide view"):
        build("wide", _records(), EMPTY, ViewOptions(compact=True))
    assert main(["report", "--runs", str(tmp_path), "--format", "html", "--output", str(tmp_path / "h"), "--compact"]) == 2


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_wide_compact_and_paired_latex_compile(tmp_path):
    records = _records()
    tables = [render(build("wide", records, EMPTY), "latex"),
              render(build("results", records, EMPTY, ViewOptions(compact=True)), "latex"),
              render(build("paired", _disagreeing(), EMPTY, ViewOptions(pair=("a", "b"))), "latex")]
    document = "\n".join([r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}",
                          r"\usepackage[paperwidth=90cm,paperheight=60cm,margin=1cm]{geometry}", r"\begin{document}",
                          *(t + r"\par\bigskip" for t in tables), r"\end{document}"])
    (tmp_path / "tables.tex").write_text(document)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "tables.tex"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 0


def _disagreeing() -> pd.DataFrame:
    """27 pairs: a is 0.1 better on 25 items and 1.2 worse on 2, so the mean difference is about 0
    (its interval spans 0) while nearly every rank favours a (Wilcoxon p far below 0.05)."""
    diff = np.r_[[0.1] * 25, [-1.2] * 2]
    b = 20.0 + np.arange(diff.size) / 10
    frame = lambda method, values: pd.DataFrame({"run": "r", "dataset": "sample", "method": method, "bucket": "0-20",
                                                 "item_id": [f"i{k}" for k in range(diff.size)], "status": "ok", "PSNR": values})
    return pd.concat([frame("a", b + diff), frame("b", b)], ignore_index=True)


def test_paired_view_says_which_test_decides_and_marks_where_they_disagree():
    from scipy import stats

    records = _disagreeing()
    diff = np.r_[[0.1] * 25, [-1.2] * 2]
    assert stats.wilcoxon(diff).pvalue < 0.01  # independent: the ranks favour a
    [table] = build("paired", records, EMPTY, ViewOptions(pair=("a", "b")))
    [row] = table.rows
    cells = {column.text: cell for column, cell in zip(table.columns, row)}
    assert cells["ci_low"].value < 0 < cells["ci_high"].value  # the interval of the mean spans 0
    assert cells["better"].text == "none" and [m.text for m in cells["better"].marks] == ["!"]
    assert cells["wilcoxon_better"].text == "a" and cells["agree"].text == "False"
    assert cells["p_wilcoxon"].text == f"{stats.wilcoxon(diff).pvalue:.3g}"  # three significant digits, not 17
    notes = ["".join(p.text or "".join(m.text for m in p.marks) for p in n) for n in table.notes]
    assert notes[0].startswith("better: decided by the paired bootstrap 95% interval")
    assert notes[1].startswith("! the Wilcoxon signed-rank test at p < 0.05 disagrees")
    assert "none!" in render(table, "markdown")
