"""Paper tables: layout pinned to the published numbers, measured cells, LaTeX validity, claims."""
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.reports import render
from misf.paper.tables import (
    CLAIMS,
    DATASET_LABELS,
    DECIMALS,
    DEFAULT_TOLERANCES,
    PAPER_TO_HARNESS,
    RATIO_LABELS,
    TABLES,
    claims_check,
    paper_table,
    published,
    relative_gain,
    render_reproduction,
    reproduction_summary,
    table_columns,
    table_frame,
)
from misf.paper.tables import METRICS

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "paper" / "tables.csv"

OFFSETS = (-0.1, 0.1, 0.3, 0.1)  # per-image values around published + 0.1 (4: enough for an interval)


def _records_at(table: str, label: str, harness: str, shift: float = 0.1, **extra) -> pd.DataFrame:
    """Four images per published cell of ``label`` whose mean is the published value + ``shift``."""
    paper = published().query("table == @table and method == @label")
    rows = []
    for (dataset, ratio), cells in paper.groupby(["dataset", "mask_ratio"]):
        values = cells.set_index("metric")["value"]
        for i, offset in enumerate(OFFSETS):
            rows.append(
                {"method": harness, "dataset": dataset, "bucket": ratio, "item_id": f"{dataset}-{ratio}-{i}",
                 **{m: v + offset + shift - 0.1 for m, v in values.items()}, **extra}
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def misf_records() -> pd.DataFrame:
    return _records_at("table2", "MISF", "misf", reads_ground_truth=False)


def _parse_markdown(text: str) -> dict[tuple[str, str, str], str]:
    """(metric, method, column header) → cell text of a rendered markdown table, without emphasis."""
    text = re.sub(r"\*\*|</?u>", "", text)  # best (bold) and second best (underlined) shown values
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    headers, body = split[0], split[2:]
    cells, metric = {}, None
    for row in body:
        metric = row[0].split()[0] if row[0] else metric
        cells.update({(metric, row[1], header): text for header, text in zip(headers[2:], row[2:])})
    return cells


def _header(dataset: str, ratio: str) -> str:
    return f"{DATASET_LABELS[dataset]} {RATIO_LABELS[ratio]}"


def test_published_holds_the_349_cells_of_the_shared_csv():
    paper = published()
    assert len(paper) == 349
    assert list(paper.columns) == ["table", "dataset", "mask_ratio", "method", "metric", "value"]
    if SHARED_CSV.is_file():
        pd.testing.assert_frame_equal(paper, pd.read_csv(SHARED_CSV, dtype={"mask_ratio": str}))


def test_mapping_covers_every_paper_label():
    paper = published()
    for table, mapping in PAPER_TO_HARNESS.items():
        assert set(paper.query("table == @table")["method"]) == set(mapping)
    unmeasured = {label for mapping in PAPER_TO_HARNESS.values() for label, name in mapping.items() if name is None}
    assert unmeasured == set()
    f3 = {PAPER_TO_HARNESS["table3"]["Sem-Filter"], PAPER_TO_HARNESS["table4"]["Sem-Filter(F3)"]}
    assert f3 == {"misf-sem-filter-f3"}


@pytest.mark.parametrize("table", TABLES)
def test_every_published_cell_is_rendered_in_its_row_and_column(table):
    cells = _parse_markdown(paper_table(None, table))
    paper = published().query("table == @table")
    for row in paper.itertuples():
        key = (row.metric, row.method, _header(row.dataset, row.mask_ratio))
        assert cells[key] == f"{row.value:.{DECIMALS[row.metric]}f}°", key
    assert sum(text != "–" for text in cells.values()) == len(paper)
    assert len(cells) == len(METRICS) * len(PAPER_TO_HARNESS[table]) * len(table_columns(table))


def test_layout_follows_the_paper_order():
    frame = table_frame(None, "table2")
    assert list(dict.fromkeys(frame["metric"])) == ["PSNR", "SSIM", "L1", "LPIPS"]
    assert list(dict.fromkeys(frame["method"])) == list(PAPER_TO_HARNESS["table2"])
    columns = list(dict.fromkeys(zip(frame["dataset"], frame["mask_ratio"])))
    assert columns == [("places2", r) for r in ("0-20", "20-40", "40-60")] + [
        ("celeba", r) for r in ("0-20", "20-40", "40-60")
    ] + [("dunhuang", "default")]
    assert table_columns("table4") == [("celeba", r) for r in ("0-20", "20-40", "40-60")]
    header = paper_table(None, "table2").splitlines()[2]
    assert "PSNR" not in header and "Places2 0%-20%" in header and "Dunhuang Default" in header


def test_measured_cells_show_measured_published_and_difference(misf_records):
    frame = table_frame(misf_records, "table2").query("method == 'MISF'").dropna(subset=["published"])
    assert np.allclose(frame["measured"], frame["published"] + 0.1)
    assert np.allclose(frame["diff"], 0.1) and (frame["n"] == len(OFFSETS)).all()
    cells = _parse_markdown(paper_table(misf_records, "table2"))
    assert cells[("PSNR", "MISF", "Places2 0%-20%")] == "31.435 (31.335, +0.100)"
    assert cells[("LPIPS", "MISF", "Dunhuang Default")] == "0.1330 (0.0330, +0.1000)"
    assert cells[("PSNR", "RFRNet", "Places2 0%-20%")] == "29.281°"
    assert cells[("LPIPS", "PConv", "CelebA 0%-20%")] == "–"


def test_table3_compares_with_its_own_published_value(misf_records):
    cells = _parse_markdown(paper_table(misf_records, "table3"))
    # MISF SSIM on CelebA: Table 2 prints 0.9680, Table 3 prints 0.9673.
    assert cells[("SSIM", "MISF", "CelebA 0%-20%")] == "1.0680 (0.9673, +0.1007)"
    assert cells[("SSIM", "Sem-Filter", "CelebA 0%-20%")] == "0.9657°"


def test_extra_methods_are_rows_of_measured_values(misf_records):
    records = pd.concat([misf_records, misf_records.assign(method="lama")])
    cells = _parse_markdown(paper_table(records, "table2", extra_methods=["lama"]))
    assert cells[("PSNR", "lama", "Places2 0%-20%")] == "31.435"


def test_ground_truth_readers_are_marked(misf_records):
    ctsdg = _records_at("table2", "CTSDG", "ctsdg", reads_ground_truth=True)
    records = pd.concat([misf_records, ctsdg])
    assert ("PSNR", "CTSDG†", "Places2 0%-20%") in _parse_markdown(paper_table(records, "table2"))
    latex = paper_table(records, "table2", "latex")
    assert r"CTSDG$^\dagger$" in latex and r"MISF$^\dagger$" not in latex


def test_best_bold_and_second_underlined_among_shown_values(misf_records):
    latex = paper_table(None, "table4", "latex")
    psnr = [line for line in latex.splitlines() if "Sem-Filter(F" in line][:3]
    assert r"\textbf{34.253}$^\circ$" in psnr[2] and r"\underline{34.128}$^\circ$" in psnr[1]
    # SSIM 0-20: F1 and F2 tie at 0.9651, both second.
    assert latex.count(r"\underline{0.9651}") == 2
    measured = paper_table(_records_at("table2", "RFRNet", "rfrnet", shift=5.0), "table2", "latex")
    assert r"\textbf{34.281}" in measured and r"\underline{31.335}$^\circ$" in measured


def _tabular_width(spec: str) -> int:
    return len(re.sub(r"[^lcr]", "", spec))


def _check_latex(text: str) -> None:
    depth = 0
    for char in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    assert text.count(r"\begin{tabular}") == text.count(r"\end{tabular}") == 1
    width = _tabular_width(re.search(r"\\begin\{tabular\}\{([^}]*)\}", text)[1])
    rows = [line for line in text.splitlines() if line.rstrip().endswith(r"\\")]
    assert len(rows) > 3
    for row in rows:
        spans = [int(n) for n in re.findall(r"\\multicolumn\{(\d+)\}", row)]
        cells = row.count("&") + 1 - len(spans) + sum(spans)
        assert cells == width, row
    assert r"\toprule" in text and r"\bottomrule" in text and r"\cmidrule" in text


@pytest.mark.parametrize("table", TABLES)
def test_latex_is_well_formed(table, misf_records):
    _check_latex(paper_table(None, table, "latex"))
    _check_latex(paper_table(misf_records, table, "latex"))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles(tmp_path, misf_records):
    from harness.reports.report import render as render_runs
    from harness.reports.stats import cell_confidence

    partial = misf_records.assign(run="r1", untrained=True, deviations="size 64 (paper: 256)", protocol="celeba · size 64")
    partial.loc[partial.index[:2], "status"] = "failed"
    tables = [paper_table(None, t, "latex") for t in TABLES] + [paper_table(misf_records, "table2", "latex")]
    tables += [paper_table(partial, "table2", "latex"), render_reproduction(misf_records, fmt="latex"),
               render_runs(partial.assign(status=partial["status"].fillna("ok")), "latex"),
               render.table(cell_confidence(misf_records), "latex", ["mean", "ci_low", "ci_high"], "metric", "Confidence"),
               render.table(pd.DataFrame({"metric": ["PSNR"], "Δ hole mean": [-0.25]}), "latex", ["Δ hole mean"], "metric")]
    document = "\n".join(
        [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}",
         r"\usepackage[paperwidth=90cm,paperheight=300cm,margin=1cm]{geometry}", r"\begin{document}",
         *(t + r"\par\bigskip" for t in tables), r"\end{document}"]
    )
    (tmp_path / "tables.tex").write_text(document)
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "tables.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "tables.pdf").stat().st_size > 0


def test_unknown_table_or_format_is_an_error():
    with pytest.raises(ValueError):
        paper_table(None, "table2", "html")
    with pytest.raises(KeyError):
        paper_table(None, "table9")


def test_reproduction_summary_checks_each_measured_cell_against_tolerance(misf_records):
    summary = reproduction_summary(misf_records, n_resamples=200)
    assert len(summary) == 28 + 28  # MISF in Table 2 and Table 3
    assert (summary["n"] == len(OFFSETS)).all()
    within = summary.groupby("metric")["within_tolerance"].all()
    assert within["PSNR"] and within["L1"] and not within["SSIM"] and not within["LPIPS"]
    assert (summary["ci_low"] <= summary["measured"]).all() and (summary["measured"] <= summary["ci_high"]).all()
    loose = reproduction_summary(misf_records, {m: 0.2 for m in METRICS}, tables=["table2"], n_resamples=200)
    assert len(loose) == 28 and loose["within_tolerance"].all()
    assert set(DEFAULT_TOLERANCES) == set(METRICS)


def _decimals(number: float) -> int:
    return len(repr(number).partition(".")[2])


def test_claims_from_published_numbers_reproduce_the_papers_sentences():
    claims = claims_check()
    assert len(claims) == len(CLAIMS) == 4
    for claim in claims.itertuples():
        assert round(claim.from_published, _decimals(claim.stated)) == claim.stated, claim.sentence
        assert f"{claim.stated:g}%" in claim.sentence
    assert claims["from_measured"].isna().all()
    assert relative_gain(31.335, 29.281, "PSNR") == pytest.approx(7.0148, abs=1e-4)
    assert relative_gain(0.0432, 0.0817, "LPIPS") == pytest.approx(47.124, abs=1e-3)


def test_claims_from_measured_numbers(misf_records):
    rfrnet = _records_at("table2", "RFRNet", "rfrnet", shift=0.0)
    claims = claims_check(pd.concat([misf_records, rfrnet])).set_index("stated")
    assert claims.loc[7.01, "from_measured"] == pytest.approx(relative_gain(31.435, 29.281, "PSNR"))
    assert np.isnan(claims.loc[47.12, "from_measured"])  # JPGNet not measured in these records
    jpgnet = _records_at("table2", "JPGNet", "jpgnet", shift=0.0)
    claims = claims_check(pd.concat([misf_records, jpgnet])).set_index("stated")
    jpgnet_lpips = published().query("method == 'JPGNet' and metric == 'LPIPS' and dataset == 'places2' and mask_ratio == '0-20'")
    expected = relative_gain(0.0432 + 0.1, jpgnet_lpips["value"].item(), "LPIPS")
    assert claims.loc[47.12, "from_measured"] == pytest.approx(expected)


def test_render_reproduction_reports_counts_and_claims(misf_records):
    text = render_reproduction(misf_records)
    assert text.startswith("28 of 56 measured cells within tolerance")
    assert "7.01% relative higher PNSR" in text and "| +0.100 " in text
    assert r"\begin{tabular}" in render_reproduction(misf_records, fmt="latex")
