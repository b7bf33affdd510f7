"""Set-state sums: what a rerun of a finished run costs now that it starts from its part, against
the same rerun without the part (every item through the extractor and, under --keep-outputs
none, predicted again, as before parts were kept by one process), both measured in this run;
and the bytes per item of the ids a part lists (every item in its sums, sorted, zlib-compressed).

Usage: python benchmarks/set_state_reuse.py [--items 96] [--size 64] [--repeats 2]
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.set_state_bytes import Projection, _folder  # noqa: E402
from harness.config import RunConfig  # noqa: E402
from harness.data.spec import RunSpec  # noqa: E402
from harness.engine.runner import run  # noqa: E402
from harness.metrics.inception import InceptionFeatures  # noqa: E402


class Counted(Projection):
    """The stand-in extractor, counting the images it sees."""

    images = 0

    def forward(self, images):
        Counted.images += len(images)
        return super().forward(images)


def _ids_bytes(count: int, names: str) -> float:
    """Bytes per item of ``count`` sorted item ids (image|mask) as a part stores them."""
    rng = np.random.default_rng(0)
    if names == "numbered":  # Places2's validation names, generated masks
        ids = [f"Places365_val_{i + 1:08d}|gen-s0-0-20-{i:05d}" for i in range(count)]
    else:  # 32 hex digits per image (hashed file names): the worst case for zlib
        ids = [f"{rng.bytes(16).hex()}|nvidia-{i % 2000:05d}" for i in range(count)]
    stored = io.BytesIO()
    np.savez_compressed(stored, included=np.frombuffer("\n".join(sorted(ids)).encode(), np.uint8))
    return len(stored.getvalue()) / count


def _run(spec: RunSpec, out: Path) -> tuple[float, int, int]:
    """(seconds, predicted, images through the extractor) of one run of telea in sums mode."""
    extractor, Counted.images = InceptionFeatures.from_module(Counted(), "projection"), 0
    start = time.perf_counter()
    result = run(RunConfig.of(spec, ["telea"], out=out, metrics=("PSNR", "SSIM", "L1"),
                              set_metrics=("FID", "KID", "P-IDS", "U-IDS"), set_bootstrap=0, keep="none",
                              extractor=extractor, set_state="sums", set_sample=32))
    return time.perf_counter() - start, result.methods[0].predicted, Counted.images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=96)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for names in ("numbered", "hashed"):
        sizes = ", ".join(f"{n:,}: {_ids_bytes(n, names):.2f} B" for n in (36_500, 1_000_000))
        print(f"part ids per item ({names} names), by items per bucket: {sizes}")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        _folder(tmp / "data", args.items)
        os.environ["HARNESS_CACHE"] = str(tmp / "cache")
        spec = RunSpec(dataset="folder", data_root=str(tmp / "data"), size=args.size, buckets="0-100")
        first = _run(spec, tmp / "runs")
        print(f"first run: {first[0]:.1f} s, {first[1]} predicted, {first[2]} images through the extractor")
        [part] = (tmp / "runs").glob("*/parts/telea/1-0")
        for repeat in range(args.repeats):  # interleaved: the machine's load drifts
            reused = _run(spec, tmp / "runs")
            kept = tmp / "kept-part"
            shutil.move(part, kept)  # the same rerun without its part: the cost before parts were kept
            without = _run(spec, tmp / "runs")
            shutil.rmtree(part)
            shutil.move(kept, part)
            print(f"rerun {repeat + 1}: from its part {reused[0]:.1f} s ({reused[1]} predicted, {reused[2]} extracted); "
                  f"without it {without[0]:.1f} s ({without[1]} predicted, {without[2]} extracted); "
                  f"ratio {reused[0] / without[0]:.2f}")


if __name__ == "__main__":
    main()
