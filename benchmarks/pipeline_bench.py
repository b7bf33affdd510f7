"""Throughput of the harness against the official MISF test loop and against the bound, on the same items.

Everything runs in this one process, interleaved over ``--rounds``, on ``--items`` items of the
embedded default at 256²: MISF with random weights saved in the official file format, LPIPS
with a random VGG16 backbone placed in a temporary torch hub cache (so the real loading path
runs offline). Measured:

* the official ``test()`` loop re-created from the upstream code's facts (docs/misf.md §12: batch 1,
  decode in the loop, forward, composite, per-image scikit-image PSNR/SSIM on the truncated
  uint8 composite, L1, LPIPS);
* the bound: the model forward plus LPIPS alone, on pre-decoded tensors (no decode, no other
  metric, no write);
* the harness's Evaluation at several batch sizes (fresh cache each time, so it predicts all),
  with the device's default workers and, with ``--workers default,1``, the pipelined path
  (loader worker and scoring thread) where the default is none (a CPU whose cores all run the model);
* per-image metrics of the harness against the official loop (max |difference|);
* main-thread host time outside the forward and LPIPS (thread CPU time, measured): per item in
  the batch loop, and apart from it once per run (starting the loader workers and the sink);
* images/s per stage (load, forward, LPIPS, other metrics, cache writes) and bytes and files per
  cached item (holes-only and full).

On a GPU (``--device cuda``) it also runs the harness in tf32 and bf16, samples GPU utilisation
with nvidia-smi, reports the bf16 forward's TFLOP/s (MISF: 261 GFLOP per 256² image, measured
with torch's FLOP counter) and how far each faster mode moves PSNR/SSIM/LPIPS from fp32.

    python benchmarks/pipeline_bench.py [--items 24] [--rounds 2] [--batch-sizes 1,8] [--workers default,1] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data.dataloader import _BaseDataLoaderIter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.store.cache import Cache  # noqa: E402
from harness.engine.evaluation import Evaluation  # noqa: E402
from harness.engine.execution import Execution, configure  # noqa: E402
from harness.data.manifest import build_manifest  # noqa: E402
from harness.metrics import get_profile  # noqa: E402
from harness.metrics.functional import composite, psnr, ssim, to_uint8_truncated  # noqa: E402
from harness.metrics.scoring import Scorer  # noqa: E402
from harness.engine.pipeline import InlineSink, ItemSource, Sink, collate, cores, defaults, tune_allocator  # noqa: E402
from harness.registry import load_predictor  # noqa: E402
from harness.data.spec import RunSpec  # noqa: E402

MISF_GFLOP = 261.0


def _setup(tmp: Path) -> Path:
    """A random VGG16 where torchvision looks for it, and MISF random weights in the official container."""
    import torchvision

    os.environ["TORCH_HOME"] = str(tmp / "torch-home")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.vgg16().state_dict(), hub / "vgg16-397923af.pth")
    from misf.networks import build_generator

    checkpoint = tmp / "celebA_InpaintingModel_gen.pth"
    torch.manual_seed(0)
    torch.save({"iteration": 0, "generator": build_generator("misf").state_dict()}, checkpoint)
    return checkpoint


def _lpips(device: torch.device):
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net="vgg", version="0.1", verbose=False).to(device).eval()


def official_loop(manifest, predictor, lpips_model, device) -> tuple[float, dict[str, list[float]]]:
    """misf.py test(): batch 1, decode in the loop, forward, composite, per-image metrics."""
    values: dict[str, list[float]] = {"PSNR": [], "SSIM": [], "L1": [], "LPIPS": []}
    start = time.perf_counter()
    for item in manifest.items:
        image, mask = manifest.load(item)
        images = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(device)
        masks = torch.from_numpy(mask)[None, None].to(device)
        with torch.no_grad():
            outputs = predictor.predict(images * (1 - masks), masks)
            merged = (outputs * masks + images * (1 - masks)).clamp(0, 1)
            values["LPIPS"].append(float(lpips_model(merged * 2 - 1, images * 2 - 1)))
        gt, pre = to_uint8_truncated(images)[0], to_uint8_truncated(merged)[0]
        values["PSNR"].append(psnr(gt, pre))
        values["SSIM"].append(ssim(gt, pre))
        values["L1"].append(float((merged - images).abs().mean()) * 100)
    return time.perf_counter() - start, values


def bound(manifest, predictor, lpips_model, device) -> float:
    """Forward plus LPIPS alone, batch 1, on tensors decoded beforehand."""
    pairs = [manifest.load(item) for item in manifest.items]
    tensors = [(torch.from_numpy(i).permute(2, 0, 1)[None].float().div(255).to(device), torch.from_numpy(m)[None, None].to(device))
               for i, m in pairs]
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for images, masks in tensors:
            outputs = predictor.predict(images * (1 - masks), masks)
            lpips_model((outputs * masks + images * (1 - masks)).clamp(0, 1) * 2 - 1, images * 2 - 1)
    _sync(device)
    return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class MainThreadClock:
    """Main-thread CPU time spent inside wrapped functions, per bucket, to subtract from its total."""

    def __init__(self):
        self.inside: dict[str, float] = {}
        self._patches = []

    def wrap(self, owner, name: str, bucket: str) -> None:
        original = getattr(owner, name)
        clock = self

        def timed(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                return original(*args, **kwargs)
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                clock.inside[bucket] = clock.inside.get(bucket, 0.0) + time.thread_time() - start

        setattr(owner, name, timed)
        self._patches.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)


def model_clock(predictor) -> MainThreadClock:
    """A clock of the model's forward and LPIPS's network (bucket "model")."""
    import lpips

    clock = MainThreadClock()
    clock.wrap(type(predictor), "predict", "model")
    clock.wrap(lpips.LPIPS, "forward", "model")
    return clock


def official_run(manifest, predictor, lpips_model, device) -> tuple[float, float, dict[str, list[float]]]:
    """:func:`official_loop` with its main-thread host seconds per item outside the forward and
    LPIPS's network: (wall seconds, host seconds per item, metrics)."""
    clock = model_clock(predictor)
    try:
        start = time.thread_time()
        seconds, values = official_loop(manifest, predictor, lpips_model, device)
        total = time.thread_time() - start
    finally:
        clock.restore()
    return seconds, (total - clock.inside.get("model", 0.0)) / len(manifest.items), values


def harness_run(manifest, predictor, batch: int, cache_dir: Path, keep: str = "holes",
                workers: int | None = None) -> tuple[float, float, float, Evaluation]:
    """(wall seconds, main-thread host seconds per item, per run, the evaluation).

    Host time is main-thread CPU time outside the model's forward (its ``predict``) and LPIPS's network; "per item"
    is what the batch loop spends (taking a batch from the loader, preparing it, handing it to
    the sink: in series, the sink's whole work), "per run" the rest (starting and stopping the
    loader workers and the sink, cache look-ups before the loop)."""
    clock = model_clock(predictor)
    clock.wrap(Evaluation, "_prepare", "loop")
    clock.wrap(_BaseDataLoaderIter, "__next__", "loop")
    clock.wrap(Sink, "submit", "loop")
    clock.wrap(InlineSink, "submit", "loop")
    try:
        evaluation = Evaluation(manifest, predictor, "misf", Cache(cache_dir), batch, keep=keep, workers=workers)
        cpu_start, start = time.thread_time(), time.perf_counter()
        evaluation.run(manifest.items, show_progress=False)
        _sync(predictor.device)
        wall, main_cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    finally:
        clock.restore()
    loop, model = clock.inside.get("loop", 0.0), clock.inside.get("model", 0.0)
    return wall, (loop - model) / len(manifest.items), main_cpu - loop, evaluation


def stages(manifest, predictor, lpips_model, device, cache_dir: Path) -> dict[str, float]:
    """Images per second of each stage alone."""
    items = manifest.items
    source = ItemSource(manifest, items, Cache(cache_dir), ["x"] * len(items), read_outputs=False)
    start = time.perf_counter()
    batch = collate([source[i] for i in range(len(items))])
    load = time.perf_counter() - start
    images, masks = batch.images.to(device), batch.masks.to(device)
    with torch.no_grad():
        start = time.perf_counter()
        outputs = torch.cat([predictor.predict(images[i : i + 1] * (1 - masks[i : i + 1]), masks[i : i + 1]) for i in range(len(items))])
        _sync(device)
        forward = time.perf_counter() - start
        merged = composite(outputs, images, masks).clamp(0, 1)
        start = time.perf_counter()
        for i in range(len(items)):
            lpips_model(merged[i : i + 1] * 2 - 1, images[i : i + 1] * 2 - 1)
        _sync(device)
        lpips_time = time.perf_counter() - start
    scorer = Scorer(get_profile("paper"), device, ("PSNR", "SSIM", "L1"))
    start = time.perf_counter()
    scorer(images, outputs, masks)
    metrics = time.perf_counter() - start
    cache = Cache(cache_dir / "stage-writes")
    host = outputs.cpu().numpy()
    start = time.perf_counter()
    for i in range(len(items)):
        cache.put_output(f"{'0' * 16}-{i:048d}", host[i], masks[i, 0].cpu().numpy() > 0.5)
        cache.put_metrics(f"{'0' * 16}-{i:048d}", "paper-x", {"PSNR": 1.0, "SSIM": 1.0, "L1": 1.0, "LPIPS": 1.0})
    cache.close()
    writes = time.perf_counter() - start
    n = len(items)
    return {"load": n / load, "forward": n / forward, "LPIPS": n / lpips_time, "PSNR+SSIM+L1": n / metrics, "cache writes": n / writes}


def disk_per_item(cache_dir: Path, items: int) -> tuple[float, float]:
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / items, len(files) / items


class GpuSampler:
    def __init__(self):
        self.values: list[float] = []
        self._proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
                                      stdout=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            try:
                self.values.append(float(line.strip().split(",")[0]))
            except ValueError:
                pass

    def stop(self) -> float:
        self._proc.terminate()
        return statistics.mean(self.values) if self.values else float("nan")


def _metrics_of(evaluation: Evaluation) -> dict[str, np.ndarray]:
    rows = evaluation.result.rows
    return {m: np.array([r.get(m, np.nan) for r in rows], float) for m in ("PSNR", "SSIM", "L1", "LPIPS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--workers", default="default",
                        help="loader workers of the harness runs: 'default' (the device's), numbers, comma-separated")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    device = torch.device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    checkpoint = _setup(tmp)
    os.environ["HARNESS_CACHE"] = str(tmp / "cache")
    if device.type == "cpu":
        tune_allocator()
    manifest = build_manifest(RunSpec(limit=-(-args.items // 3), size=args.size))
    predictor = load_predictor("misf", checkpoint=str(checkpoint), device=device)
    configure(predictor, Execution())
    lpips_model = _lpips(device)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    modes = [None if w == "default" else int(w) for w in args.workers.split(",")]
    n = len(manifest.items)
    print(f"{n} items at {args.size}², device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{cores()} cores, default workers {defaults(device).workers}")

    official_loop(manifest, predictor, lpips_model, device)  # warm-up: the models' first calls
    harness_run(manifest, predictor, batches[0], tmp / "warm-up")  # and the harness's LPIPS (built once per process)
    times: dict[str, list[float]] = {}
    host: dict[str, list[tuple[float, float]]] = {}
    official_host: list[float] = []
    reference = None
    evaluations = {}
    for round_ in range(args.rounds):
        seconds, host_s, reference = official_run(manifest, predictor, lpips_model, device)
        times.setdefault("official loop (batch 1)", []).append(seconds)
        official_host.append(host_s)
        times.setdefault("bound: forward + LPIPS", []).append(bound(manifest, predictor, lpips_model, device))
        for workers in modes:
            for batch in batches:
                name = f"harness batch {batch}" + ("" if workers is None else f", {workers} workers")
                wall, host_s, start_s, evaluation = harness_run(manifest, predictor, batch, tmp / f"c-{round_}-{name}",
                                                                workers=workers)
                times.setdefault(name, []).append(wall)
                host.setdefault(name, []).append((host_s, start_s))
                evaluations[name] = evaluation
    bound_s = statistics.median(times["bound: forward + LPIPS"])
    official_s = statistics.median(times["official loop (batch 1)"])
    print(f"\n{'':34} {'s total':>8} {'img/s':>7} {'of bound':>9} {'vs official':>12}   (each round)")
    for name, values in times.items():
        s = statistics.median(values)
        rounds = " ".join(f"{official / v:.3f}" for official, v in zip(times["official loop (batch 1)"], values))
        print(f"{name:34} {s:8.2f} {n / s:7.2f} {bound_s / s:9.1%} {official_s / s:11.3f}x   {rounds}")
    print("\nmain-thread host time outside the forward and LPIPS (thread CPU time): in the batch loop per item; "
          "the rest once per run")
    for name, values in host.items():
        per_item, per_run = (statistics.median(v[i] for v in values) * 1000 for i in (0, 1))
        print(f"  {name:32} {per_item:6.2f} ms per item; {per_run:6.1f} ms per run")
    print(f"  {'official loop (batch 1)':32} {statistics.median(official_host) * 1000:6.2f} ms per item")
    print("\nmax |harness - official| per-image metric:")
    for name, evaluation in evaluations.items():
        ours = _metrics_of(evaluation)
        diffs = {m: float(np.nanmax(np.abs(ours[m] - np.array(reference[m])))) for m in ours}
        print(f"  {name:32} " + ", ".join(f"{m} {d:.2e}" for m, d in diffs.items()))
    print("\nimages/s per stage alone:")
    for stage, rate in stages(manifest, predictor, lpips_model, device, tmp / "stages").items():
        print(f"  {stage:14} {rate:9.2f}")
    for keep in ("holes", "full"):
        harness_run(manifest, predictor, batches[-1], tmp / f"disk-{keep}", keep)
        size, files = disk_per_item(tmp / f"disk-{keep}", n)
        print(f"cache per item, keep {keep}: {size / 1000:.1f} kB, {files:.3f} files")
    if device.type == "cuda":
        _gpu_modes(manifest, checkpoint, device, tmp, n, evaluations[f"harness batch {batches[-1]}"], batches[-1])


def _gpu_modes(manifest, checkpoint, device, tmp, n, fp32_eval, batch) -> None:
    """tf32 and bf16 harness runs, GPU utilisation, bf16 forward TFLOP/s, metric shifts against fp32."""
    fp32 = _metrics_of(fp32_eval)
    print(f"\nGPU modes (batch {batch}):")
    for precision in ("fp32", "tf32", "bf16"):
        predictor = load_predictor("misf", checkpoint=str(checkpoint), device=device)
        configure(predictor, Execution(precision=precision, channels_last=precision != "fp32"))
        harness_run(manifest, predictor, batch, tmp / f"warm-{precision}")
        sampler = GpuSampler()
        wall, _, _, evaluation = harness_run(manifest, predictor, batch, tmp / f"gpu-{precision}")
        utilisation = sampler.stop()
        moved = {m: float(np.nanmax(np.abs(v - fp32[m]))) for m, v in _metrics_of(evaluation).items()}
        print(f"  {precision}: {n / wall:8.1f} img/s, GPU utilisation {utilisation:.0f} %, max shift vs fp32: "
              + ", ".join(f"{m} {d:.2e}" for m, d in moved.items()))
    predictor = load_predictor("misf", checkpoint=str(checkpoint), device=device)
    configure(predictor, Execution(precision="bf16", channels_last=True))
    x = torch.rand(64, 3, 256, 256, device=device)
    m = (torch.rand(64, 1, 256, 256, device=device) > 0.7).float()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            predictor.predict(x, m)
        _sync(device)
        start = time.perf_counter()
        for _ in range(10):
            predictor.predict(x, m)
        _sync(device)
    rate = 640 / (time.perf_counter() - start)
    print(f"  bf16 forward alone, batch 64: {rate:.0f} img/s = {rate * MISF_GFLOP / 1000:.0f} TFLOP/s "
          f"({rate * MISF_GFLOP / 1000 / 989:.0%} of the H200's dense bf16 peak of about 989 TFLOP/s)")


if __name__ == "__main__":
    main()
