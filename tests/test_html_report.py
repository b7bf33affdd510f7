"""The HTML report and the plots: what they show equals the records, statistics from independent
computations (literal loops, numpy, harness.reports.stats), and the folder needs nothing from outside."""
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.reports import plotdata
from misf.paper.views import paper_tables
from harness.store.records import load_records
from harness.reports.stats import MIN_INTERVAL_ITEMS, bootstrap_ci, cell_confidence
from tests.report_tools import METHODS, build_sample_report, embedded_data
from misf.paper.tables import PAPER_CSV


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_sample_report(tmp_path_factory.mktemp("html"))


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html) + re.findall(r"url\(([^)]*)\)", html)


def test_the_folder_needs_nothing_from_outside(built):
    runs, report = built
    html = (report / "index.html").read_text(encoding="utf-8")
    for reference in _references(html):
        assert not re.match(r"^['\"]?(https?:|//|/|file:)", reference), reference  # relative or in-page only
    assert "<link" not in html and "@import" not in html and "@font-face" not in html
    assert "default-src 'none'" in html  # the page's own policy forbids any other request
    data = embedded_data(report / "index.html")
    run = next(iter(data["runs"].values()))
    images = run["images"]
    assert images["panels"] == ["Input", *METHODS, "GT"] and images["missing"] == {} and images["grey"] == {}
    for index in range(len(run["items"]["id"])):
        for kind in ("full", "thumb"):
            assert (report / images["dir"] / kind / f"{index}.{images['ext']}").is_file()


def test_embedded_values_equal_the_records(built):
    runs, report = built
    records = load_records(runs)
    run = next(iter(embedded_data(report / "index.html")["runs"].values()))
    items = run["items"]
    for method in METHODS:
        mine = records[records["method"] == method].set_index("item_id")
        for metric in ("PSNR", "SSIM", "L1"):
            expected = mine.loc[items["id"], metric].to_numpy()
            np.testing.assert_allclose(items["values"][method][metric], expected, atol=1e-5)
    np.testing.assert_allclose(items["ratio"], records.drop_duplicates("item_id").set_index("item_id").loc[items["id"], "hole_ratio"],
                               atol=1e-4)


def test_results_table_shows_n_failures_intervals_and_best(built):
    runs, report = built
    records = load_records(runs)
    html = (report / "index.html").read_text(encoding="utf-8")
    intervals = cell_confidence(records)
    table = re.search(r'<table class="results sortable".*?</table>', html, re.S).group(0)
    rows = re.findall(r'<tr data-method="([^"]+)" data-bucket="([^"]+)">(.*?)</tr>', table, re.S)
    assert len(rows) == len(METHODS) * 3
    for method, bucket, body in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        part = records[(records["method"] == method) & (records["bucket"] == bucket)]
        assert cells[2] == str((part["status"] == "ok").sum()) and cells[3] == "0"
        psnr = intervals[(intervals["method"] == method) & (intervals["bucket"] == bucket) & (intervals["metric"] == "PSNR")].iloc[0]
        assert f"{psnr['mean']:.3f}" in cells[4]
        if psnr["n"] >= MIN_INTERVAL_ITEMS:
            shown = " – ".join(f"{v:.3f}".replace("-", "−") for v in (psnr["ci_low"], psnr["ci_high"]))
            assert shown in cells[4]
        else:  # too few items for an interval: none is shown
            assert np.isnan(psnr["ci_low"]) and 'class="ci"' not in cells[4]
    for bucket in ("0-20", "20-40", "40-60"):  # the best PSNR of each bucket is marked, and only it
        part = records[records["bucket"] == bucket].groupby("method")["PSNR"].mean()
        best = [b for m, bk, b in rows if bk == bucket and m == part.idxmax()][0]
        other = [b for m, bk, b in rows if bk == bucket and m != part.idxmax()][0]
        assert 'class="best"' in re.findall(r"<td[^>]*>", best)[4] and 'class="best"' not in re.findall(r"<td[^>]*>", other)[4]


def test_pictures_are_the_input_the_composites_and_the_truth(built):
    runs, report = built
    from harness.store.cache import Cache
    from harness.reports.grids import composite_u8
    from harness.reports.html.data import load_runs
    from harness.data.manifest import build_manifest

    records = load_records(runs)
    run = next(iter(embedded_data(report / "index.html")["runs"].values()))
    (data,), _ = load_runs(runs, records, pd.DataFrame(columns=["run"]))
    manifest = build_manifest(data.spec)
    item = manifest.items[1]
    index = run["items"]["id"].index(item.item_id)
    strip = np.asarray(Image.open(report / run["images"]["dir"] / "full" / f"{index}.png"))
    image, mask = manifest.load(item)
    size = image.shape[0]
    panels = [strip[:, k * size:(k + 1) * size] for k in range(len(METHODS) + 2)]
    expected_input = image.copy()
    expected_input[mask > 0.5] = 255
    np.testing.assert_array_equal(panels[0], expected_input)
    np.testing.assert_array_equal(panels[-1], image)
    cache = Cache(runs.parent / "cache")
    for k, method in enumerate(METHODS, start=1):
        key = records[(records["method"] == method) & (records["item_id"] == item.item_id)]["cache_key"].iloc[0]
        prediction = cache.get_output(key, (3, size, size), mask > 0.5)
        np.testing.assert_array_equal(panels[k], composite_u8(image, mask, prediction))
        assert not np.array_equal(panels[k], image)  # a composite, not the truth


def test_binned_curve_equals_a_literal_loop():
    rng = np.random.default_rng(0)
    ratios = rng.uniform(0, 0.6, 200)
    records = pd.DataFrame({"method": ["a"] * 100 + ["b"] * 100, "item_id": [f"i{k}" for k in range(100)] * 2,
                            "bucket": "x", "hole_ratio": np.concatenate([ratios[:100], ratios[:100]]),
                            "status": "ok", "PSNR": rng.normal(25, 3, 200)})
    records.loc[5, "status"] = "failed"
    curve = plotdata.hole_ratio_curve(records, "PSNR", plotdata.equal_bins(10), n_resamples=500)
    for _, row in curve.iterrows():
        values = [v for m, r, v, s in zip(records["method"], records["hole_ratio"], records["PSNR"], records["status"])
                  if m == row["method"] and s == "ok" and row["low"] <= r < row["high"]]
        assert row["n"] == len(values) and row["mean"] == pytest.approx(sum(values) / len(values))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(bootstrap_ci(np.array(values), n_resamples=500))
    assert set(curve["bin"]) <= {f"{10 * k}-{10 * (k + 1)}" for k in range(10)} and "60-70" not in set(curve["bin"])
    edges = plotdata.equal_bins(10)
    assert edges[0][1] == 0.0 and edges[-1][2] == 1.0 and len(edges) == 10
    assert plotdata.bucket_edges(["40-60", "0-20", "default"]) == [("0-20", 0.0, 0.2), ("40-60", 0.4, 0.6)]


def test_quantiles_and_paired_differences():
    records = pd.DataFrame({"method": ["a"] * 5 + ["b"] * 5, "item_id": list("vwxyz") * 2, "bucket": ["0-20"] * 10,
                            "hole_ratio": [0.1] * 10, "status": ["ok"] * 9 + ["failed"],
                            "L1": [1.0, 2.0, 3.0, 4.0, 10.0, 0.5, 1.0, 1.5, 2.0, np.nan]})
    boxes = plotdata.bucket_quantiles(records, "L1").set_index("method")
    assert boxes.loc["a", "q50"] == 3.0 and boxes.loc["a", "q25"] == 2.0 and boxes.loc["a", "q75"] == 4.0
    assert boxes.loc["a", "q95"] == pytest.approx(np.percentile([1, 2, 3, 4, 10], 95)) and boxes.loc["b", "n"] == 4
    pairs = plotdata.paired_items(records, "a", "b", "L1")
    assert list(pairs["item_id"]) == list("vwxy") and list(pairs["diff"]) == [0.5, 1.0, 1.5, 2.0]


def test_paper_tables_colour_differences_against_the_published_values():
    paper = pd.read_csv(PAPER_CSV, dtype={"mask_ratio": str})
    published = paper.query("table == 'table2' and dataset == 'celeba' and mask_ratio == '0-20' and method == 'MISF'")
    psnr, l1 = (published.set_index("metric").loc[m, "value"] for m in ("PSNR", "L1"))
    records = pd.DataFrame({"method": "misf", "dataset": "celeba", "run": "r", "bucket": "0-20", "item_id": ["a", "b"],
                            "status": "ok", "PSNR": [psnr + 1.0, psnr + 1.0], "SSIM": np.nan, "L1": [l1, l1 + 0.0001],
                            "LPIPS": np.nan})
    table2 = paper_tables(records)[0]
    row = {r["metric"].split()[0]: r for r in table2["rows"] if r["method"] == "MISF"}
    column = table2["columns"].index("CelebA 0%-20%")
    assert row["PSNR"]["cells"][column]["tone"] == "better" and row["PSNR"]["cells"][column]["diff"] == "+1.000"
    assert row["L1"]["cells"][column]["tone"] == "near"
    records["PSNR"] = psnr - 1.0
    assert {r["metric"].split()[0]: r for r in paper_tables(records)[0]["rows"] if r["method"] == "MISF"}["PSNR"]["cells"][column]["tone"] == "worse"
    assert row["PSNR"]["cells"][0]["measured"] is None and row["PSNR"]["cells"][0]["published"] != "–"  # Places2: published only


def test_plots_as_png_and_pdf_show_the_binned_means(built, tmp_path):
    runs, _ = built
    from harness.cli import main
    from harness.reports.plots import hole_ratio_figure

    records = load_records(runs)
    assert main(["plot", "--runs", str(runs), "--paired", "telea,biharmonic", "--output", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.rglob("*.*"))
    assert "hole-ratio-PSNR.pdf" in files and "buckets-SSIM.png" in files and "paired-telea-vs-biharmonic-L1.pdf" in files
    pdf = next(tmp_path.rglob("hole-ratio-PSNR.pdf")).read_bytes()
    assert pdf[:5] == b"%PDF-" and next(tmp_path.rglob("buckets-L1.png")).read_bytes()[:4] == b"\x89PNG"
    bins = plotdata.bucket_edges(records["bucket"])
    figure = hole_ratio_figure(records, "PSNR", bins, n_resamples=200)
    lines = [line for line in figure.axes[0].get_lines() if len(line.get_ydata()) == 3]
    expected = records[records["method"] == METHODS[0]].groupby("bucket")["PSNR"].mean().loc[["0-20", "20-40", "40-60"]]
    np.testing.assert_allclose(lines[0].get_ydata(), expected.to_numpy())
    styles = plotdata.styles(METHODS)
    drawn = [(line.get_color().lower(), line.get_marker(), line.get_linestyle()) for line in lines]
    assert drawn[0][0] == styles[METHODS[0]].colour.lower() and len(set(drawn)) == len(drawn) == len(METHODS)
    assert len({marker for _, marker, _ in drawn}) == len({style for _, _, style in drawn}) == len(METHODS)


def _lab(colour: str) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(np.array([[[int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]]]))[0, 0]


def test_the_palette_tells_ten_methods_apart_by_colour_and_marker():
    from skimage.color import deltaE_ciede2000

    from harness.reports import plots

    colours = [_lab(c) for c in plotdata.PALETTE]
    assert len(colours) >= 10
    distances = [float(deltaE_ciede2000(x, y)) for i, x in enumerate(colours) for y in colours[i + 1:]]
    assert min(distances) > 20  # CIEDE2000: about 2 is just noticeable; Okabe-Ito's two blues were 22, tab10's red/brown 16
    assert min(float(deltaE_ciede2000(c, _lab("#FFFFFF"))) for c in colours) > 30  # every colour stands out on white
    ten = plotdata.styles([f"m{i}" for i in range(10)]).values()
    assert len({s.colour for s in ten}) == len({s.marker for s in ten}) == 10
    many = plotdata.styles([f"m{i}" for i in range(35)]).values()
    assert len({(s.colour, s.marker) for s in many}) == 35  # past ten: the markers shift, no pair repeats
    assert set(plotdata.MARKERS) == set(plots._MARKERS)  # matplotlib draws every marker the page draws


def test_columns_sort_best_first_titles_name_the_image_and_thumbnails_load_eagerly(built):
    runs, report = built
    html = (report / "index.html").read_text(encoding="utf-8")
    table = re.search(r'<table class="results sortable".*?</thead>', html, re.S).group(0)
    directions = {name: higher for higher, name in re.findall(r'data-higher="(true|false)" scope="col">(\w+)', table)}
    assert directions == {"PSNR": "true", "SSIM": "true", "L1": "false"}
    script = re.search(r"function sortTable.*?\n  }\n", html, re.S).group(0)
    assert "th.dataset.higher === 'true'" in script  # the first click reads the column's direction
    assert "loading" not in re.search(r"var img = el\('img', \{.*?\}\);", html, re.S).group(0)  # no lazy loading
    records = load_records(runs)
    items = next(iter(embedded_data(report / "index.html")["runs"].values()))["items"]
    names = records.drop_duplicates("item_id").set_index("item_id")["image_id"]
    assert items["image"] == [names[i] for i in items["id"]] and all("|" in i for i in items["id"])
    assert Image.open(next((report / "img").rglob("thumb/0.*"))).size == (128 * (len(METHODS) + 2), 128)


def test_the_wide_layout_is_a_section_of_the_report(built):
    runs, report = built
    html = (report / "index.html").read_text(encoding="utf-8")
    section = re.search(r'<h3 id="wide-r0">.*?</ul>', html, re.S).group(0)
    groups = re.findall(r'<th colspan="3" class="group" scope="colgroup">(.*?)</th>', section)
    assert groups == ["PSNR ↑", "SSIM ↑", "L1 ↓"]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', section, re.S)
    assert [r[0] for r in rows] == METHODS
    means = load_records(runs).groupby(["method", "bucket"])["PSNR"].mean()
    first = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1])[0]
    assert first == f"{means[(METHODS[0], '0-20')]:.3f}"
    assert "<li>n, images scored per method: 0-20: 2 · 20-40: 2 · 40-60: 2; no failed item</li>" in section


def test_fig7_results_appear_with_their_run(built, tmp_path):
    runs, _ = built
    from harness.reports.html import write_report
    from misf.fig7 import write_fig7
    from misf.fig7_files import read_fig7

    name = next(p.parent.name for p in runs.rglob("spec.json"))
    values = pd.DataFrame({"item_id": ["a", "b"], "bucket": ["0-20", "20-40"], "hole_ratio": [0.1, 0.3],
                           "ncc_pre": [0.5, 0.3], "ncc_post": [0.6, 0.5], "ncc_pre_hole": [0.1, 0.0], "ncc_post_hole": [0.3, 0.2]})
    values.attrs.update(method="misf", level=3, untrained=True)
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    write_fig7(values, copy / "fig7" / f"{name}-misf", "misf on sample", run=name)
    assert read_fig7(copy / "fig7" / f"{name}-misf").attrs["untrained"] is True
    records = load_records(copy)
    index = write_report(copy, records, pd.DataFrame(columns=["run"]), tmp_path / "report", images=False)
    html = index.read_text(encoding="utf-8")
    assert 'id="fig7-r0"' in html and 'src="fig7/' in html and "0.6000" in html and "random weights" in html
    assert (tmp_path / "report" / "fig7" / f"{name}-misf.png").is_file()


def test_unreachable_images_leave_a_note_and_the_numbers(built, tmp_path):
    runs, _ = built
    from harness.reports.html import write_report

    def unreachable(run):
        raise OSError("data folder not mounted")

    records = load_records(runs)
    with pytest.warns(RuntimeWarning, match="no pictures"):
        index = write_report(runs, records, pd.DataFrame(columns=["run"]), tmp_path / "r", panel_source=unreachable)
    assert "data folder not mounted" in index.read_text(encoding="utf-8") and not (tmp_path / "r" / "img").exists()
    assert json.dumps(embedded_data(index)).count("PSNR") > 0


@pytest.mark.slow
def test_fig7_default_folder_belongs_to_its_run_in_the_report(tmp_path, monkeypatch):
    """``harness fig7`` without --output writes beside the runs, named by the run of the same items."""
    from harness.cli import main

    runs = tmp_path / "runs"
    monkeypatch.setenv("HARNESS_RUNS", str(runs))
    common = ["--size", "64", "--no-progress"]
    assert main(["run", "--methods", "telea", "--limit", "1", *common, "--no-lpips"]) == 0
    assert main(["fig7", "--checkpoint", "random", "--samples", "1", "--size", "64"]) == 0
    name = next(p.parent.name for p in runs.rglob("spec.json"))
    assert (runs / "fig7" / f"{name}-misf" / "fig7.json").is_file()
    assert main(["report", "--format", "html", "--output", str(tmp_path / "report"), "--no-images"]) == 0
    html = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    section = html[html.index('id="run-r0"'):]
    assert 'id="fig7-r0"' in section and "random weights" in section and "Fig. 7 results of no run" not in html


def test_an_output_that_is_not_there_is_a_grey_panel_with_a_note(built, tmp_path):
    runs, _ = built
    from harness.reports.html import write_report
    from harness.reports.html.images import MISSING_GREY, RunPanels

    class WithoutTelea(RunPanels):
        def panels(self, item_id, methods):
            panels = super().panels(item_id, methods)
            return [None if name == "telea" else panel for name, panel in zip(["Input", *methods, "GT"], panels)]

    records = load_records(runs)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE", str(runs.parent / "cache"))
        index = write_report(runs, records, pd.DataFrame(columns=["run"]), tmp_path / "r", image_format="png",
                             panel_source=WithoutTelea)
    images = next(iter(embedded_data(index)["runs"].values()))["images"]
    assert set(images["grey"]) == {str(i) for i in range(6)} and "telea" in images["grey"]["0"]
    strip = np.asarray(Image.open(tmp_path / "r" / images["dir"] / "full" / "0.png"))
    telea = strip[:, 64 * (1 + METHODS.index("telea")):64 * (2 + METHODS.index("telea"))]
    assert (telea == MISSING_GREY).all() and not (strip[:, :64] == MISSING_GREY).all()
