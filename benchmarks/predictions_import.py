"""Importing and scoring N saved predictions versus running a trivial predictor on the same items.

A folder dataset of N/3 images of 256² (crops of scikit-image's bundled pictures) with the three
default buckets of generated masks gives N items. The predictions are written as 8-bit PNGs (a
mean fill, by this script, as a foreign program would) into an export; then, each in a fresh
cache, ``harness run`` scores (a) ``predictions:DIR`` and (b) an in-process predictor computing
the same fill, and (c) the import again from the warm cache. Metrics: the paper profile without
LPIPS (PSNR, SSIM, L1). Times are wall seconds of the run call in this process; the ratio is the
figure to compare across machines; the pair runs --repeats times in alternating order.
Usage: python benchmarks/predictions_import.py [--items N] [--repeats R]
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))


def mean_fill_u8(masked: np.ndarray, holes: np.ndarray) -> np.ndarray:
    mean = np.round(masked[~holes].mean(axis=0)).astype(np.uint8)
    return np.where(holes[:, :, None], mean, masked)


def trivial(checkpoint=None, device=None):
    """The same mean fill as a predictor run by the harness (the reference of the ratio)."""
    import torch

    from harness.predictor import Predictor

    class MeanFill(Predictor):
        name = "mean-fill"

        def predict(self, images, masks, **kwargs):
            known = 1 - masks
            mean = (images * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp(min=1)
            return torch.round(mean * 255).div(255).expand_as(images).clone()

    return MeanFill()


def _images(folder: Path, count: int) -> None:
    from skimage import data

    pictures = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.hubble_deep_field()]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for index in range(count):
        picture = pictures[index % len(pictures)]
        top, left = (int(rng.integers(0, side - 256)) for side in picture.shape[:2])
        Image.fromarray(picture[top:top + 256, left:left + 256]).save(folder / f"img{index:05d}.png")


def _timed(config) -> tuple[float, float, object]:
    """Wall seconds and this process's CPU seconds (less moved by other processes on a shared machine)."""
    from harness.engine.runner import run

    wall, cpu = time.perf_counter(), time.process_time()
    result = run(config)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from harness.config import RunConfig
    from harness.data.export import export
    from harness.data.spec import RunSpec
    from harness.environment import Environment

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _images(root / "data", -(-args.items // 3))
        spec = RunSpec(dataset="folder", data_root=str(root / "data"), masks="generated")
        env = Environment.read()
        start = time.perf_counter()
        exported = export(spec, root / "export", "plain", root / "cache-export", env.roots)
        export_s = time.perf_counter() - start
        out = exported.folder / "predictions"
        with open(exported.folder / "index.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                masked = np.asarray(Image.open(exported.folder / row["masked"]))
                holes = np.asarray(Image.open(exported.folder / row["mask"])) == 255
                Image.fromarray(mean_fill_u8(masked, holes)).save(out / f"{row['name']}.png")

        def config(method: str, cache: str):
            return RunConfig.of(spec, [method], out=root / "runs", progress=False, without_lpips=True,
                                environment=Environment.read({"HARNESS_CACHE": str(root / cache)}))

        print(f"items {exported.items} at 256² (PSNR, SSIM, L1); export {export_s:.1f} s")
        walls, cpus = [], []
        for repeat in range(args.repeats):  # alternating order: a busy machine's swings hit both
            order = [("import", f"files=predictions:{out}"), ("predictor", "predictions_import:trivial")]
            wall, cpu = {}, {}
            for name, method in order if repeat % 2 == 0 else order[::-1]:
                wall[name], cpu[name], result = _timed(config(method, f"cache-{name}-{repeat}"))
                assert result.methods[0].counts()["scored_items"] == exported.items, "every item must be scored"
            rerun_s, _, rerun = _timed(config(f"files=predictions:{out}", f"cache-import-{repeat}"))
            assert (rerun.methods[0].predicted, rerun.methods[0].scored) == (0, 0)
            walls.append(wall["import"] / wall["predictor"])
            cpus.append(cpu["import"] / cpu["predictor"])
            print(f"repeat {repeat}: import and score {wall['import']:7.1f} s wall {cpu['import']:7.1f} s CPU; trivial "
                  f"predictor {wall['predictor']:7.1f} s wall {cpu['predictor']:7.1f} s CPU; ratio wall {walls[-1]:5.2f} "
                  f"CPU {cpus[-1]:5.2f}; import again from the cache {rerun_s:5.1f} s")
    print(f"median ratio import / predictor: wall {sorted(walls)[len(walls) // 2]:.2f}, CPU {sorted(cpus)[len(cpus) // 2]:.2f}")


if __name__ == "__main__":
    main()
