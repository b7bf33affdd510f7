"""Export a protocol's inputs, import a folder of predictions: round trip against the same
predictor in process, the official loaders' view of each layout, and bad folders."""
import csv
import glob
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.cli.app import main
from harness.config import RunConfig, parse_methods
from harness.data.export import export_manifest
from harness.data.layouts import IDENTITY_FILE, item_names
from harness.data.manifest import build_manifest
from harness.data.spec import RunSpec
from harness.engine.runner import run
from harness.errors import UsageError
from harness.metrics import profiles
from harness.store.records import ITEM_COLUMNS, load_records

ROOT = Path(__file__).resolve().parents[1]
SPEC = RunSpec(limit=1, size=64)
PLUGIN = "tests.predictions_tools:quantised_fill"


def _export(tmp_path, layout="plain", spec=SPEC):
    manifest = build_manifest(spec)
    return manifest, export_manifest(manifest, tmp_path / f"export-{layout}", layout)


def _foreign(export_folder: Path, out: Path) -> None:
    """The predictions written by another process (no harness import there)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "tests.predictions_tools", str(export_folder), str(out)], check=True,
                   cwd=ROOT, env=env, capture_output=True)


def _rows(result, label):
    method = next(m for m in result.methods if m.label == label)
    return pd.DataFrame(method.rows).set_index("item_id").sort_index()


def test_round_trip_equals_the_predictor_in_process_in_every_profile_and_reruns_from_cache(tmp_path):
    _, exported = _export(tmp_path)
    out = exported.folder / "predictions"
    _foreign(exported.folder, out)
    methods = [f"live={PLUGIN}", f"files=predictions:{out}"]
    for profile in profiles():
        spec = replace(SPEC, profile=profile)
        result = run(RunConfig.of(spec, methods, out=tmp_path / "runs", without_lpips=True))
        live, files = _rows(result, "live"), _rows(result, "files")
        assert (files["status"] == "ok").all() and len(files) == 3
        metrics = [c for c in result.methods[0].rows[0] if c != "cache_key"]
        assert len(set(metrics) - set(ITEM_COLUMNS) - {"status", "stage", "reason", "out_of_range"}) >= 1, profile
        pd.testing.assert_frame_equal(live[metrics[1:]], files[metrics[1:]], check_exact=True)  # all but item_id
        again = run(RunConfig.of(spec, [f"files=predictions:{out}"], out=tmp_path / "runs", without_lpips=True))
        assert (again.methods[0].predicted, again.methods[0].scored) == (0, 0), profile
    info = json.loads((result.run_dir / "methods" / "files" / "method.json").read_text())
    assert info["supplied"] is True and info["lossy"] is False and info["predictions"]["folder"] == str(out)
    records = load_records(result.run_dir)
    assert records[records["method"] == "files"]["supplied"].all()


def test_a_changed_file_gives_new_results(tmp_path):
    _, exported = _export(tmp_path)
    out = exported.folder / "predictions"
    _foreign(exported.folder, out)
    first = run(RunConfig.of(SPEC, [f"files=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR",)))
    victim = sorted(out.glob("*.png"))[0]
    Image.fromarray(255 - np.asarray(Image.open(victim))).save(victim)  # the holes change too
    second = run(RunConfig.of(SPEC, [f"files=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR",)))
    assert second.methods[0].predicted == 3  # a new fingerprint: nothing served from the old cache entries
    before, after = _rows(first, "files")["PSNR"], _rows(second, "files")["PSNR"]
    assert (before != after).sum() == 1


def _lama_official_inputs(indir: str):
    """LaMa's InpaintingDataset (saicinpainting/evaluation/data.py) with bin/predict.py's default
    img_suffix .png, re-stated: masks are every *mask*.png below indir, sorted; the image is the
    mask's name before its last '_mask'; both through PIL, RGB and L, /255; predict.py then takes
    mask > 0 as the hole and writes <mask path relative to indir without suffix>.png."""
    masks = sorted(glob.glob(os.path.join(indir, "**", "*mask*.png"), recursive=True))
    images = [name.rsplit("_mask", 1)[0] + ".png" for name in masks]
    outputs = [os.path.splitext(name[len(indir):])[0] + ".png" for name in masks]
    load = lambda path, mode: np.array(Image.open(path).convert(mode)).astype("float32") / 255  # noqa: E731
    return [(load(i, "RGB"), load(m, "L") > 0, o) for i, m, o in zip(images, masks, outputs)]


def _misf_official_inputs(folder: Path):
    """MISF's Dataset (src/dataset.py) in test mode, re-stated: image and mask lists are JSON
    arrays (json.load); images and masks read as arrays (a single-channel mask), the mask
    thresholded at MASK_THRESHOLD 0 into 255 = hole; test.py writes <k>__pre1.png, k from 1."""
    images = json.loads((folder / "test_images.flist").read_text())
    masks = json.loads((folder / "test_masks.flist").read_text())
    read = lambda path: np.array(Image.open(path))  # noqa: E731
    return [(read(i), read(m) > 0, f"{k}__pre1.png") for k, (i, m) in enumerate(zip(images, masks), start=1)]


@pytest.mark.parametrize("layout", ["lama", "misf", "edgeconnect", "mat"])
def test_each_layout_reads_back_with_its_official_loader_item_for_item(tmp_path, layout):
    manifest, exported = _export(tmp_path, layout)
    folder = exported.folder
    expected = [manifest.load(item) for item in manifest.items]
    if layout == "lama":
        seen = _lama_official_inputs(str(folder / "input") + "/")
        images = [(image * 255).round().astype(np.uint8) for image, _, _ in seen]
    elif layout == "misf":
        seen = _misf_official_inputs(folder)
        images = [image for image, _, _ in seen]
    elif layout == "edgeconnect":  # numpy.genfromtxt of the text list: one path a line
        paths = np.genfromtxt(folder / "test_images.flist", dtype=str, encoding="utf-8")
        masks = np.genfromtxt(folder / "test_masks.flist", dtype=str, encoding="utf-8")
        seen = [(np.array(Image.open(i)), np.array(Image.open(m)) > 0, os.path.basename(i)) for i, m in zip(paths, masks)]
        images = [image for image, _, _ in seen]
    else:  # MAT's generate_image.py: sorted globs paired by position; mask read grayscale /255, 1 = kept
        paths = sorted(glob.glob(str(folder / "images") + "/*.png"))
        masks = sorted(glob.glob(str(folder / "masks") + "/*.png"))
        seen = [(np.array(Image.open(i)), np.array(Image.open(m).convert("L")).astype(np.float32) / 255 == 0,
                 os.path.basename(i)) for i, m in zip(paths, masks)]
        images = [image for image, _, _ in seen]
    assert len(seen) == len(expected) == 3
    for (image, holes, _), picture, (truth, mask) in zip(seen, images, expected):
        assert picture.dtype == np.uint8 and (picture == truth).all()
        assert (holes == (mask > 0.5)).all()
    # Predictions under the official script's output names are found, item for item.
    out = folder / "predictions"
    for (_, holes, name), truth in zip(seen, [t for t, _ in expected]):
        Image.fromarray(np.where(holes[:, :, None], 0, truth).astype(np.uint8)).save(out / name)
    result = run(RunConfig.of(SPEC, [f"x=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR",)))
    assert result.methods[0].counts()["scored_items"] == 3
    if layout == "misf":  # named by position only: away from the export's identity they are refused
        away = out.rename(tmp_path / "away")
        with pytest.raises(UsageError, match="named by position"):
            run(RunConfig.of(SPEC, [f"x=predictions:{away}"], out=tmp_path / "runs", metrics=("PSNR",)))


def _folder(tmp_path, spec=SPEC):
    manifest, exported = _export(tmp_path, spec=spec)
    out = exported.folder / "predictions"
    _foreign(exported.folder, out)
    names = item_names([(i.image_sha256, i.mask_sha256) for i in manifest.items])
    return manifest, out, [out / f"{name}.png" for name in names]


def test_bad_files_are_counted_failures_with_their_reason(tmp_path):
    manifest, out, files = _folder(tmp_path, replace(SPEC, limit=3))
    good = [np.asarray(Image.open(f)) for f in files]
    files[0].unlink()  # missing
    Image.fromarray(good[1][:32]).save(files[1])  # wrong size
    Image.fromarray(good[2][:, :, 0]).save(files[2])  # grayscale
    Image.fromarray(np.dstack([good[3], np.full(good[3].shape[:2], 255, np.uint8)])).save(files[3])  # alpha
    files[4].write_bytes(files[4].read_bytes()[:200])  # truncated
    files[5].unlink()
    Image.fromarray(good[5]).save(files[5].with_suffix(".jpg"), quality=90)  # lossy: scored, marked
    files[6].unlink()
    np.save(files[6].with_suffix(".npy"), good[6].astype(np.float32) / 255)  # NPY float: scored
    Image.fromarray(good[7]).save(files[7].with_suffix(".tif"))  # a second candidate: ambiguous
    (out / "stray.png").write_bytes(files[8].read_bytes())  # matches no item
    result = run(RunConfig.of(replace(SPEC, limit=3), [f"files=predictions:{out}"],
                              out=tmp_path / "runs", metrics=("PSNR",)))
    rows = _rows(result, "files")
    reasons = {item.item_id: rows.loc[item.item_id, "reason"] for item in manifest.items}
    ids = [item.item_id for item in manifest.items]
    assert "no prediction file" in reasons[ids[0]]
    assert "size 64x32, expected 64x64" in reasons[ids[1]]
    assert "grayscale" in reasons[ids[2]]
    assert "alpha" in reasons[ids[3]]
    assert "unreadable PNG" in reasons[ids[4]]
    assert "ambiguous" in reasons[ids[7]]
    assert (rows.loc[[ids[5], ids[6], ids[8]], "status"] == "ok").all()
    assert result.methods[0].counts()["failed_items"] == 6 and (rows["status"] == "failed").sum() == 6
    assert "1 file(s)" in result.methods[0].note and "stray.png" in result.methods[0].note
    info = json.loads((result.run_dir / "methods" / "files" / "method.json").read_text())
    assert info["lossy"] is True and info["predictions"]["lossy_files"] == 1 and info["predictions"]["unmatched"] == 1


def test_sixteen_bit_png_is_read_with_all_its_bits(tmp_path):
    import cv2

    _, out, files = _folder(tmp_path)
    eight = run(RunConfig.of(SPEC, [f"a=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR", "L1")))
    for file in files:  # the same values as 16-bit (x257): equal to the 8-bit file's
        pixels = np.asarray(Image.open(file)).astype(np.uint16) * 257
        file.unlink()
        cv2.imwrite(str(file), np.ascontiguousarray(pixels[:, :, ::-1]))
    sixteen = run(RunConfig.of(SPEC, [f"b=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR", "L1")))
    pd.testing.assert_frame_equal(_rows(eight, "a")[["PSNR", "L1"]], _rows(sixteen, "b")[["PSNR", "L1"]], check_exact=True)
    for file in files:  # below the high byte: Pillow alone would read these as the 8-bit values above
        pixels = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(file), (pixels + 100).astype(np.uint16))
    low = run(RunConfig.of(SPEC, [f"c=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR", "L1")))
    assert (_rows(low, "c")["L1"] != _rows(eight, "a")["L1"]).all()


def test_resize_only_on_request_and_marked(tmp_path):
    _, out, files = _folder(tmp_path)
    for file in files:
        Image.open(file).resize((128, 128), Image.BILINEAR).save(file)
    refused = run(RunConfig.of(SPEC, [f"a=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR",)))
    assert refused.methods[0].counts()["failed_items"] == 3
    resized = run(RunConfig.of(SPEC, [f"b=predictions:{out}"], options={"resize": "true"}, out=tmp_path / "runs",
                               metrics=("PSNR",)))
    assert resized.methods[0].counts()["scored_items"] == 3
    info = json.loads((resized.run_dir / "methods" / "b" / "method.json").read_text())
    assert info["resized"] is True and info["config"]["resize"] is True


def test_an_export_of_another_protocol_is_refused(tmp_path):
    _, out, _ = _folder(tmp_path)
    with pytest.raises(UsageError, match="exported for other inputs"):
        run(RunConfig.of(replace(SPEC, seed=1), [f"a=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR",)))
    identity = json.loads((out.parent / IDENTITY_FILE).read_text())
    assert identity["protocol"]["seed"] == 0 and identity["items"] == 3


def test_command_line_spelling_and_one_line_errors(tmp_path, capsys):
    assert parse_methods(["mine=predictions:/x"])[0].method == "predictions:/x"
    assert parse_methods(["tests.plugin_methods:mean_fill"])[0].method == "tests.plugin_methods:mean_fill"
    for entry in ("mine=predictions:", "predictions:/x"):
        with pytest.raises(ValueError, match="LABEL=predictions:DIR"):
            parse_methods([entry])
    code = main(["run", "--methods", f"mine=predictions:{tmp_path / 'nowhere'}", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no such folder of predictions" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    assert main(["export", "--out", str(tmp_path / "full"), "--limit", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["export", "--out", str(tmp_path / "e"), "--dataset", "nosuch"]) == 2


def test_export_writes_lossless_pngs_and_an_index_with_hashes(tmp_path):
    import hashlib

    manifest, exported = _export(tmp_path)
    with open(exported.folder / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["item_id"] for r in rows] == [i.item_id for i in manifest.items]
    for row, item in zip(rows, manifest.items):
        for part in ("image", "mask", "masked"):
            data = (exported.folder / row[part]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == row[f"{part}_sha256"] and data.startswith(b"\x89PNG")
        image, mask = manifest.load(item)
        masked = np.asarray(Image.open(exported.folder / row["masked"]))
        assert (masked == np.where(mask[:, :, None] > 0.5, 0, image)).all()
        assert float(row["hole_ratio"]) == item.hole_ratio and row["bucket"] == item.bucket


def _readme_commands() -> list[str]:
    """The commands of the README's "Evaluate a model you cannot import" example, as written."""
    text = (ROOT / "README.md").read_text()
    block = text.split("### Evaluate a model you cannot import", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.strip().splitlines()]


@pytest.mark.slow
def test_the_readme_example_runs_offline_end_to_end(tmp_path):
    import shlex

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HARNESS_RUNS": str(tmp_path / "runs"), "HARNESS_NO_LPIPS": "1"}
    commands = _readme_commands()
    assert [c.split()[0] for c in commands] == ["harness", "python", "harness", "harness"]
    outputs = []
    for command in commands:
        words = shlex.split(command)
        words = [sys.executable, "-m", "harness", *words[1:]] if words[0] == "harness" else \
            [sys.executable, *[str(ROOT / w) if w.startswith("examples/") else w for w in words[1:]]]
        done = subprocess.run(words, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        outputs.append(done.stdout)
    assert "mean-fill⊳" in outputs[2] and "telea" in outputs[2]
    assert "predictions supplied" in outputs[2]
    assert outputs[3].strip()


def test_float_tiff_and_npy_give_the_png_numbers_and_exr_fails_clearly(tmp_path):
    import tifffile

    _, out, files = _folder(tmp_path)
    png = run(RunConfig.of(SPEC, [f"a=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR", "L1")))
    pixels = [np.asarray(Image.open(f)).astype(np.float32) / np.float32(255) for f in files]
    for file in files:
        file.unlink()
    tifffile.imwrite(files[0].with_suffix(".tif"), pixels[0], photometric="rgb")
    np.save(files[1].with_suffix(".npy"), pixels[1])
    files[2].with_suffix(".exr").write_bytes(b"not an exr")
    other = run(RunConfig.of(SPEC, [f"b=predictions:{out}"], out=tmp_path / "runs", metrics=("PSNR", "L1")))
    a, b = _rows(png, "a"), _rows(other, "b")
    ok = b["status"] == "ok"
    assert ok.sum() == 2
    pd.testing.assert_frame_equal(a.loc[ok, ["PSNR", "L1"]], b.loc[ok, ["PSNR", "L1"]], check_exact=True)
    assert b.loc[~ok, "reason"].str.contains(r"^EXR not readable here .*\.exr$").all()
