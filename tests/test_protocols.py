"""Published protocols (``--protocol``): what each sets, contradicting flags, the name in the run's
identity and tables, MAT's published Places-512 table beside runs of its protocols only, and the
hole-ratio histograms of a run's masks."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage import data

from baselines import published_mat
from harness.cli import main
from harness.config import RunConfig
from harness.data import protocols
from harness.data.spec import PAPER_BUCKETS, RunSpec
from harness.engine.runner import run
from harness.errors import UsageError
from harness.metrics.inception import InceptionFeatures
from harness.metrics.registry import get_profile, set_metric
from harness.registry import DATASETS, MASK_SOURCES, PROTOCOLS
from harness.reports import hole_ratios
from harness.reports.table import render
from harness.reports.views import ViewOptions, build
from harness.store.records import load_records, load_set_metrics
from tests.test_preflight import HEAVY, PROBE, _env
from tests.test_set_metrics_run import Probe

METHOD = "tests.plugin_methods:mean_fill"

#: MAT's README (fenglinglwb/MAT d273d89, News 2022.06.21), re-typed from the upstream file:
#: (method, training images) -> small FID, P-IDS, U-IDS, large FID, P-IDS, U-IDS.
MAT_README = {
    ("MAT", "8M"): (0.78, 31.72, 43.71, 1.96, 23.42, 38.34),
    ("MAT", "1.8M"): (1.07, 27.42, 41.93, 2.90, 19.03, 35.36),
    ("CoModGAN", "8M"): (1.10, 26.95, 41.88, 2.92, 19.64, 35.78),
    ("LaMa-Big", "4.5M"): (0.99, 22.79, 40.58, 2.97, 13.09, 32.39),
}


def test_a_protocol_sets_what_the_paper_fixed_and_agreeing_flags_pass():
    spec = protocols.spec("mat-places512-large", size=512, buckets=" 0-100", limit=4)
    assert (spec.dataset, spec.size, spec.masks, spec.buckets, spec.seed, spec.profile, spec.limit) == (
        "places365-val", 512, "mat-large-512", "0-100", 240, "mat", 4)
    assert spec.protocol_name == "mat-places512-large"
    assert protocols.set_metrics("mat-places512-large", []) == ["FID", "P-IDS", "U-IDS"]
    assert protocols.set_metrics("mat-places512-large", ["FID"]) == ["FID"]  # fewer: less work, same numbers
    assert protocols.resolve(None, {"size": None, "seed": 3}) == {"seed": 3}  # no protocol: RunSpec's defaults
    # MISF's protocol is today's default for its dataset: nothing deviates from the paper
    misf = protocols.spec("misf-celeba")
    assert (misf.dataset, misf.masks, misf.buckets, misf.size, misf.resize, misf.seed, misf.profile) == (
        "celeba", "nvidia", PAPER_BUCKETS, 256, "pil-bilinear", 0, "paper")
    assert misf.deviations() == [] and "limit 2 images" in protocols.spec("misf-celeba", limit=2).deviations()[0]


@pytest.mark.parametrize("flag,value,words", [
    ("size", 256, "--size 256 contradicts --protocol mat-places512-large (size 512)"),
    ("masks", "mat-small-512", "--masks mat-small-512 contradicts --protocol mat-places512-large (masks mat-large-512)"),
    ("profile", "paper", "--profile paper contradicts --protocol mat-places512-large (profile mat)"),
    ("seed", 0, "--seed 0 contradicts --protocol mat-places512-large (seed 240)"),
    ("dataset", "sample", "--dataset sample contradicts --protocol mat-places512-large (dataset places365-val)"),
])
def test_a_flag_that_contradicts_the_protocol_is_an_error_naming_both(flag, value, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")):
        protocols.spec("mat-places512-large", **{flag: value})
    with pytest.raises(UsageError, match="drop KID or the protocol"):
        protocols.set_metrics("mat-places512-large", ["FID", "KID"])


MISTAKES = [
    (["--protocol", "mat-places512-larg"], "Did you mean 'mat-places512-large'"),
    (["--protocol", "lama-places512-thick", "--size", "256"], "--size 256 contradicts --protocol lama-places512-thick (size 512)"),
    (["--protocol", "mat-places512-small", "--set-metrics", "KID"], "--set-metrics KID contradicts --protocol mat-places512-small"),
]


@pytest.mark.parametrize("flags,expected", MISTAKES, ids=[" ".join(f) for f, _ in MISTAKES])
def test_protocol_mistakes_are_one_line_before_any_heavy_import(tmp_path, flags, expected):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["run", "--methods", "telea", *flags]), json.dumps(HEAVY)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, env={**_env(tmp_path), "COLUMNS": "400"})
    code, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert loaded == []


@pytest.mark.parametrize("name", [p.name for p in protocols.BUILTIN])
def test_every_builtin_protocol_names_what_is_registered(name):
    from masks.seeded import GENERATORS, mask_size

    protocol = PROTOCOLS.get(name)
    assert protocol.dataset in DATASETS and protocol.masks in MASK_SOURCES
    get_profile(protocol.profile)
    for metric in protocol.set_metrics:
        set_metric(metric, protocol.profile)
    if protocol.masks in GENERATORS:  # a seeded source draws masks of one size
        assert mask_size(protocol.masks) == protocol.size


def test_the_protocol_name_is_part_of_the_run_identity_and_old_runs_keep_theirs():
    custom = RunSpec(dataset="celebahq-lama", masks="lama-thick-256", buckets="0-100", size=256, profile="lama")
    named = protocols.spec("lama-celebahq256-thick")
    assert {**named.protocol(), "protocol_name": None} == {**custom.protocol(), "protocol_name": None}
    assert named.run_name("fp") != custom.run_name("fp")
    # a run without a protocol is named as before the field existed
    fields = {k: v for k, v in custom.to_dict().items() if k not in ("data_root", "mask_root", "file_list", "protocol_name")}
    digest = hashlib.sha256(json.dumps({"protocol": fields, "data": "fp"}, sort_keys=True).encode()).hexdigest()[:10]
    assert custom.run_name("fp").endswith(digest)
    assert named.describe().startswith("lama-celebahq256-thick (celebahq-lama · masks lama-thick-256")


def test_the_runner_refuses_a_name_whose_settings_are_not_its_own(tmp_path):
    spec = RunSpec(dataset="sample", size=64, protocol_name="mat-places512-large")
    with pytest.raises(UsageError, match="contradicts --protocol mat-places512-large"):
        run(RunConfig.of(spec, [METHOD], out=tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


# --- end to end: runs under MAT's protocols and one that is not ---------------------------------

def _places_fixture(root, count: int = 5) -> None:
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    for n in range(1, count + 1):
        image = cv2.resize(photos[n - 1], (683, 512), interpolation=cv2.INTER_AREA)
        path = root / "val_large" / f"Places365_val_{n:08d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, quality=95)


@pytest.fixture(scope="module")
def mat_runs(tmp_path_factory):
    """Five Places photos under mat-places512-large and -small, and a mat-profile run of other masks."""
    root = tmp_path_factory.mktemp("protocols")
    _places_fixture(root / "places")
    out, extractor = root / "runs", InceptionFeatures.from_module(Probe(), "probe")
    common = dict(data_root=str(root / "places"), limit=5)
    dirs = {}
    for name, spec in (("large", protocols.spec("mat-places512-large", **common)),
                       ("small", protocols.spec("mat-places512-small", **common)),
                       ("other", RunSpec(dataset="places365-val", masks="mat-large-512", buckets="0-100", size=512,
                                         seed=7, profile="mat", **common))):
        config = RunConfig.of(spec, [f"mean={METHOD}"], out=out, set_metrics=("FID", "P-IDS", "U-IDS"),
                              extractor=extractor, set_bootstrap=0, without_lpips=True)
        dirs[name] = run(config).run_dir
    return out, dirs


def test_a_protocol_run_records_its_name_and_shows_it_in_every_table(mat_runs):
    out, dirs = mat_runs
    assert json.loads((dirs["large"] / "spec.json").read_text())["protocol_name"] == "mat-places512-large"
    assert json.loads((dirs["large"] / "run.json").read_text())["protocol"].startswith("mat-places512-large (")
    assert json.loads((dirs["other"] / "spec.json").read_text())["protocol_name"] is None
    records, sets = load_records(out), load_set_metrics(out)
    for fmt in ("markdown", "latex"):
        text = render(build("results", records, sets), fmt)
        assert "Protocol: mat-places512-large (places365-val" in text and "Protocol: mat-places512-small (" in text
        text = render(build("confidence", records, sets), fmt)
        (line,) = [line for line in text.splitlines() if "protocol: " in line and "Protocol" not in line]
        named = line.split("protocol: ")[1].split("}")[0].split(", ")
        assert sorted(named) == ["custom", "mat-places512-large", "mat-places512-small"]
    frame = pd.read_csv(io.StringIO(render(build("results", records, sets), "csv")))
    assert dict(zip(frame["run"], frame["protocol"])) == {
        dirs["large"].name: "mat-places512-large", dirs["small"].name: "mat-places512-small", dirs["other"].name: "custom"}


def test_mats_table_places_measured_numbers_of_its_protocols_only(mat_runs):
    out, dirs = mat_runs
    records, sets = load_records(out), load_set_metrics(out)
    table = build("paper-mat-places512", records, sets)[0]
    published_rows, measured_rows = table.sections
    assert [[c.value for c in row[2:5] + row[6:9]] for row in published_rows] == [list(v) for v in MAT_README.values()]
    (row,) = measured_rows
    assert row[0].text == "mean (measured)"
    for columns, masks in ((2, "small"), (6, "large")):  # method, data, then FID, P-IDS, U-IDS, n per mask kind
        mine = sets[sets["run"] == dirs[masks].name].set_index("metric")["value"]
        shown = [c.value for c in row[columns:columns + 3]]
        assert shown == pytest.approx([mine["mat.FID"], 100 * mine["mat.P-IDS"], 100 * mine["mat.U-IDS"]], rel=1e-12)
        assert row[columns + 3].text == "5 (0)"
    other = sets[sets["run"] == dirs["other"].name].set_index("metric")["value"]
    assert other["mat.FID"] not in [c.value for r in table.rows for c in r]  # a custom run never lands in the table
    # the same records under the lama protocol's name reach no cell either
    renamed = records.assign(protocol_name=records["protocol_name"].replace("mat-places512-large", "lama-places512-thick"))
    shown = build("paper-mat-places512", renamed, sets)[0]
    assert all(c.text == "–" for c in shown.sections[1][0][6:9])


def test_mats_table_without_runs_shows_the_published_numbers_alone_saying_so(tmp_path):
    assert main(["report", "--paper", "mat-places512", "--runs", str(tmp_path / "none"), "--output", str(tmp_path / "t.md")]) == 0
    text = (tmp_path / "t.md").read_text()
    assert "the published numbers alone" in text and "0.78°" in text and "13.09°" in text
    stored = published_mat.published()
    for (method, images), values in MAT_README.items():
        part = stored[(stored["method"] == method) & (stored["training_images"] == images)].set_index(["masks", "metric"])
        assert [part.loc[(m, k), "value"] for m in ("small", "large") for k in ("FID", "P-IDS", "U-IDS")] == list(values)
    assert main(["report", "--paper", "table2", "--runs", str(tmp_path / "none"), "--output", str(tmp_path / "t2.md")]) == 0


def test_hole_ratio_histograms_count_the_manifests_ratios(mat_runs):
    out, dirs = mat_runs
    ratios = pd.read_csv(dirs["large"] / "manifest.csv")["hole_ratio"].tolist()
    by_hand = [sum(1 for r in ratios if k / 10 <= r < (k + 1) / 10 or (k == 9 and r == 1.0)) for k in range(10)]
    (section,) = hole_ratios.html_section(dirs["large"])
    assert [int(row["cells"][1]) for row in section["rows"]] == by_hand and sum(by_hand) == 5
    assert "mat-large-512" in section["title"]
    records = load_records(out)
    tables = {t.title: t for t in build("hole-ratios", records, load_set_metrics(out))}
    table = tables[f"Hole ratios · run {dirs['large'].name}"]
    assert [row[1].value for row in table.rows] == by_hand
    html = out.parent / "html"
    assert main(["report", "--runs", str(out), "--format", "html", "--output", str(html), "--no-images"]) == 0
    assert (html / "index.html").read_text().count("Hole ratios of the masks (mat-large-512)") == 2  # large and other


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_new_views_compile_as_latex(tmp_path, mat_runs):
    out, _ = mat_runs
    records, sets = load_records(out), load_set_metrics(out)
    tables = [render(build(view, records, sets), "latex") for view in ("paper-mat-places512", "hole-ratios", "confidence")]
    document = "\n".join([r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}",
                          r"\usepackage[paperwidth=90cm,paperheight=200cm,margin=1cm]{geometry}", r"\begin{document}",
                          *(t + r"\par\bigskip" for t in tables), r"\end{document}"])
    (tmp_path / "tables.tex").write_text(document)
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "tables.tex"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
