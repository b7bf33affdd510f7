"""The table model: one table renders in every style with the same cells and marks; report views
by name, the old flags as aliases, and disagreeing flags are errors."""
import io
import re

import numpy as np
import pandas as pd
import pytest

from harness.cli.app import build_parser, main
from harness.cli.report import _report_view
from harness.errors import UnknownName, UsageError
from harness.reports.marks import HIGHER, OTHER_PROTOCOL, PUBLISHED_ONLY, UNTRAINED
from harness.registry import REPORT_FORMATS, REPORT_VIEWS
from harness.reports.html import style
from harness.reports.table import Cell, Column, Table, mark_note, note, render
from harness.reports.views import ViewOptions, build

# Two methods, two groups of two columns; ranks, marks and a detail, and a note with a mark.
ROWS = (
    (Cell("misf", marks=(UNTRAINED,)), Cell("31.435", 31.4351, 1, detail=("31.335", "+0.100")), Cell("0.9680", 0.968, 2),
     Cell("29.000", 29.0, 2), Cell("–", np.nan)),
    (Cell("rfrnet"), Cell("29.281", 29.281, 2, (PUBLISHED_ONLY,)), Cell("0.9700", 0.97, 1, (OTHER_PROTOCOL,)),
     Cell("30.500", 30.5, 1), Cell("0.9000", 0.9)),
)
TABLE = Table("Table X. A test", (Column("Method"), Column("PSNR", "A 0-20", (HIGHER,)), Column("SSIM", "A 0-20", (HIGHER,)),
                                  Column("PSNR", "B", (HIGHER,)), Column("SSIM", "B", (HIGHER,))),
              (ROWS,), (mark_note(UNTRAINED), note("plain & 50%")))

# What each style must write for each cell, stated by hand from the style's rules.
MARKDOWN = [["misf‡", "**31.435** (31.335, +0.100)", "<u>0.9680</u>", "<u>29.000</u>", "–"],
            ["rfrnet", "<u>29.281</u>°", "**0.9700**◊", "**30.500**", "0.9000"]]
LATEX = [r"misf$^\ddagger$ & \textbf{31.435} {\scriptsize(31.335, $+0.100$)} & \underline{0.9680} & \underline{29.000} & -- \\",
         r"rfrnet & \underline{29.281}$^\circ$ & \textbf{0.9700}$^\diamond$ & \textbf{30.500} & 0.9000 \\"]
HTML = [["misf‡", "31.435 (31.335, +0.100)", "0.9680", "29.000", "–"], ["rfrnet", "29.281°", "0.9700◊", "30.500", "0.9000"]]


def test_one_table_renders_in_every_style_with_the_same_cells_and_marks():
    markdown = render(TABLE, "markdown")
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["Method", "A 0-20 PSNR↑", "A 0-20 SSIM↑", "B PSNR↑", "B SSIM↑"] and cells[2:] == MARKDOWN
    assert markdown.startswith("Table X. A test\n\n|") and markdown.endswith("‡ random or untrained weights: not a result "
                                                                             "of the method\nplain & 50%\n")
    latex = render(TABLE, "latex")
    assert [line for line in latex.splitlines() if line.startswith(("misf", "rfrnet"))] == LATEX
    assert r"& \multicolumn{2}{c}{A 0--20} & \multicolumn{2}{c}{B} \\" in latex  # grouped header, a range's en dash
    assert r"\cmidrule(lr){2-3} \cmidrule(lr){4-5}" in latex and r"\begin{tabular}{lcccc}" in latex
    assert r"\multicolumn{5}{l}{\footnotesize plain \& 50\%} \\" in latex and latex.startswith("% Table X. A test\n")
    csv = pd.read_csv(io.StringIO(render(TABLE, "csv")))  # no data given: the cells, numbers at full precision
    assert list(csv.columns) == ["Method", "A 0-20 PSNR", "A 0-20 SSIM", "B PSNR", "B SSIM"]
    assert csv["A 0-20 PSNR"].tolist() == [31.4351, 29.281] and csv["B SSIM"].isna().tolist() == [True, False]
    assert csv["B SSIM"][1] == 0.9 and csv["Method"].tolist() == ["misf", "rfrnet"]
    assert [[style.text(c) for c in row] for row in TABLE.rows] == HTML
    assert style.body_headers(TABLE) == ["A 0-20 PSNR↑", "A 0-20 SSIM↑", "B PSNR↑", "B SSIM↑"]
    assert style.notes(TABLE) == ["‡ random or untrained weights: not a result of the method", "plain & 50%"]


def test_a_table_with_data_writes_its_data_as_csv_and_a_row_must_fill_the_columns():
    frame = pd.DataFrame({"method": ["a", "b"], "PSNR": [30.123456789, np.nan]})
    table = Table("t", (Column("method"), Column("PSNR")), (((Cell("a"), Cell("30.123")), (Cell("b"), Cell("–"))),), data=frame)
    assert render(table, "csv") == frame.to_csv(index=False)
    with pytest.raises(ValueError, match="2 columns but rows of"):
        Table("t", (Column("a"), Column("b")), (((Cell("x"),),),))


def test_formats_are_the_style_modules():
    assert {"markdown", "latex", "csv"} <= set(REPORT_FORMATS) and "html" not in REPORT_FORMATS
    with pytest.raises(UnknownName, match="unknown report format 'rst'"):
        render(TABLE, "rst")


def test_a_new_text_format_is_one_module(tmp_path, monkeypatch):
    import sys

    from harness.reports import styles

    (tmp_path / "tsv.py").write_text(
        "def render(tables):\n"
        "    return ''.join('\\t'.join(c.text for c in row) + '\\n' for t in tables for row in t.rows)\n")
    monkeypatch.setattr(styles, "__path__", [*styles.__path__, str(tmp_path)])
    REPORT_FORMATS.names()  # filled before the copy the test restores
    monkeypatch.setattr(REPORT_FORMATS, "items", {**REPORT_FORMATS.items})
    monkeypatch.setattr(REPORT_FORMATS, "info", {**REPORT_FORMATS.info})
    monkeypatch.delitem(sys.modules, "harness.reports.styles.tsv", raising=False)
    styles.register(REPORT_FORMATS)  # what harness.builtins does when the registry is first read
    assert render(TABLE, "tsv").splitlines()[1] == "rfrnet\t29.281\t0.9700\t30.500\t0.9000"
    assert build_parser().parse_args(["report", "--format", "tsv"]).format == "tsv"  # the CLI offers it
    sys.modules.pop("harness.reports.styles.tsv", None)


def test_the_paper_table_ranks_its_shown_values_in_markdown_too():
    from misf.paper.tables import paper_layout

    table = paper_layout(None, "table4")
    psnr = {row[1].text: row[2] for row in table.sections[0]}  # the first column: CelebA 0%-20%
    assert (psnr["Sem-Filter(F3)"].rank, psnr["Sem-Filter(F2)"].rank, psnr["Sem-Filter(F1)"].rank) == (1, 2, 0)
    markdown = render(table, "markdown")
    assert "**34.253**°" in markdown and "<u>34.128</u>°" in markdown and "| 33.981°" in markdown
    assert "**bold**/<u>underlined</u>: best/second best shown value" in markdown


def test_unknown_view_suggests_the_closest_names(capsys):
    with pytest.raises(UnknownName, match="Did you mean 'paper-table2'"):
        REPORT_VIEWS.get("paper-tabel2")
    assert main(["report", "--runs", "nowhere", "--view", "confidense"]) == 2
    assert "Did you mean 'confidence'" in capsys.readouterr().err
    assert {"results", "paper-table2", "paper-table3", "paper-table4", "reproduction", "confidence", "paired",
            "profiles"} <= set(REPORT_VIEWS)


def _view(*argv: str) -> str:
    return _report_view(build_parser().parse_args(["report", *argv]))


def test_old_flags_are_aliases_of_views_and_disagreeing_ones_are_errors():
    assert _view() == "results"
    assert _view("--paper", "table3") == "paper-table3" == _view("--view", "paper-table3", "--paper", "table3")
    assert _view("--confidence") == "confidence" and _view("--reproduction") == "reproduction"
    assert _view("--paired", "a,b") == "paired" == _view("--view", "paired", "--paired", "a,b")
    assert _view("--profiles", "paper,hole") == "profiles"
    for argv in (["--paper", "table2", "--confidence"], ["--reproduction", "--paired", "a,b"],
                 ["--view", "results", "--confidence"], ["--profiles", "paper,hole", "--paired", "a,b"]):
        with pytest.raises(UsageError, match="conflicting report views"):
            _view(*argv)


def _records() -> pd.DataFrame:
    ids = [f"i{k}" for k in range(4)]
    return pd.DataFrame({"run": "r", "dataset": "d", "bucket": "0-20", "item_id": ids * 2, "status": "ok",
                         "method": ["a"] * 4 + ["b"] * 4, "PSNR": [30.0, 31.0, 29.0, 30.5, 28.0, 29.0, 27.5, 28.2]})


def test_a_view_rejects_an_option_it_would_ignore():
    records, sets = _records(), pd.DataFrame()
    with pytest.raises(UsageError, match="--combine does not apply to the confidence view"):
        build("confidence", records, sets, ViewOptions(combine=True))
    with pytest.raises(UsageError, match="--extra-methods does not apply to the results view"):
        build("results", records, sets, ViewOptions(extra_methods=("lama",)))
    with pytest.raises(UsageError, match="--paired takes two different methods"):
        build("paired", records, sets, ViewOptions(pair=("a",)))
    paired = render(build("paired", records, sets, ViewOptions(pair=("a", "b"))), "csv")
    assert pd.read_csv(io.StringIO(paired))["mean_diff"].item() == pytest.approx(np.mean([2.0, 2.0, 1.5, 2.3]))


def test_html_with_a_text_view_is_an_error(tmp_path, capsys):
    assert main(["report", "--runs", str(tmp_path), "--format", "html", "--output", str(tmp_path / "o"),
                 "--view", "confidence"]) == 2
    assert re.search(r"--view: text views; --format html writes the whole report", capsys.readouterr().err)


def test_a_metric_on_which_every_method_ties_has_no_best():
    from harness.reports.report import best_methods

    rows = [{"block": "b", "bucket": "0-20", "status": "ok", "run": "r", "item_id": item, "method": method,
             "PSNR": 30.0, "SSIM": ssim}
            for item in ("x", "y") for method, ssim in (("a", 0.9), ("c", 0.8))]
    best = best_methods(pd.DataFrame(rows))
    assert ("b", "0-20", "PSNR") not in best  # a tie of all methods is not a finding
    assert best[("b", "0-20", "SSIM")] == {"a"}
