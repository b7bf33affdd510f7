"""The ``mat`` profile against a re-statement of MAT's three evaluation scripts.

Upstream: fenglinglwb/MAT d273d89 ``generate_image.py`` (how outputs are saved) and
``evaluatoin/cal_psnr_ssim_l1.py``, ``cal_lpips.py``, ``cal_fid_pids_uids.py``. The references
below restate those scripts independently of harness.metrics.mat: real PNG files written and
re-read, numpy float64, ``cv2.filter2D``, ``lpips`` called as the script calls it, per-image
features at batch 1 with torch-fidelity's TF1 resize (the same geometry as NVIDIA's affine grid,
another code path) in front of the trunk, FeatureStats-style accumulation and ``scipy.linalg.sqrtm``.

1. The profile equals the scripts: per-item metrics to 1e-6, LPIPS to 1e-5, FID relative 1e-4,
   P-IDS / U-IDS exactly.
2. Each convention choice, altered alone in the reference, moves the value beyond those bounds.

Images: tests.test_metric_conventions' scikit-image photos with generated holes filled by Telea
and biharmonic, and its adversarial pairs (flat, saturated, tiny differences).
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from harness.metrics import get_profile, lpips_model
from harness.metrics import mat as mat_metrics
from harness.metrics.inception_trunk import find_trunk
from harness.metrics.registry import get_metric, set_metric
from harness.metrics.scoring import Scorer
from harness.metrics.setlevel import inception_discriminative_scores
from tests.test_metric_conventions import Batch, adversarial_batch, photo_batch

EXACT, LPIPS_EXACT, FID_RELATIVE = 1e-6, 1e-5, 1e-4
needs_trunk = pytest.mark.skipif(find_trunk() is None, reason="offline Inception trunk not installed")


# --- MAT's scripts, restated -----------------------------------------------------------------------

def saved_png(composite_chw: torch.Tensor, folder: Path, name: str, how: str = "round") -> np.ndarray:
    """generate_image.py: x in [-1,1] → (x·127.5 + 127.5).round().clamp(0,255) uint8 → PIL PNG; read back HWC."""
    x = composite_chw.permute(1, 2, 0).numpy().astype(np.float32) * np.float32(2) - np.float32(1)
    scaled = x * np.float32(127.5) + np.float32(127.5)
    codes = np.clip(np.round(scaled) if how == "round" else np.floor(scaled), 0, 255).astype(np.uint8)
    path = folder / f"{name}.png"
    Image.fromarray(codes).save(path)
    return np.array(Image.open(path))


def psnr_ref(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 20 * np.log10(255.0 / np.sqrt(mse))


def ssim_ref(a: np.ndarray, b: np.ndarray, window: str = "gaussian", crop: int = 5) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    kernel = cv2.getGaussianKernel(11, 1.5) if window == "gaussian" else np.full((11, 1), 1 / 11)
    w = np.outer(kernel, kernel.T)
    blur = lambda z: cv2.filter2D(z, -1, w)[crop:z.shape[0] - crop, crop:z.shape[1] - crop]  # noqa: E731
    m1, m2 = blur(a), blur(b)
    s1, s2, s12 = blur(a * a) - m1**2, blur(b * b) - m2**2, blur(a * b) - m1 * m2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return float((((2 * m1 * m2 + c1) * (2 * s12 + c2)) / ((m1**2 + m2**2 + c1) * (s1 + s2 + c2))).mean())


def l1_ref(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float64) / 255.0 - b.astype(np.float64) / 255.0)))


def per_item_reference(batch: Batch, folder: Path, how: str = "round") -> dict[str, list[float]]:
    pairs = pairs_of(batch, folder, how)
    return {"PSNR": [min(100.0, psnr_ref(p, t)) for p, t in pairs], "SSIM": [ssim_ref(p, t) for p, t in pairs],
            "L1": [100 * l1_ref(p, t) for p, t in pairs]}


def pairs_of(batch: Batch, folder: Path, how: str = "round") -> list[tuple[np.ndarray, np.ndarray]]:
    """(inpainted, gt) uint8 HWC as MAT's scripts read them from the two folders."""
    folder.mkdir(parents=True, exist_ok=True)
    composite = (batch.predictions * batch.masks + batch.images * (1 - batch.masks)).clamp(0, 1)
    return [(saved_png(c, folder, f"{i:03d}-inpainted", how), saved_png(t, folder, f"{i:03d}-gt", how))
            for i, (c, t) in enumerate(zip(composite, batch.images))]


def harness_values(batch: Batch, names=("PSNR", "SSIM", "L1")) -> dict[str, list[float]]:
    rows = Scorer(get_profile("mat"), names=names)(batch.images, batch.predictions, batch.masks)
    return {name: [row[name] for row in rows] for name in names}


@pytest.fixture(scope="module")
def photos() -> Batch:
    return photo_batch()


@pytest.fixture(scope="module")
def everything(photos) -> Batch:
    extra = adversarial_batch()
    return Batch(photos.labels + extra.labels, torch.cat([photos.images, extra.images]),
                 torch.cat([photos.predictions, extra.predictions]), torch.cat([photos.masks, extra.masks]))


# --- per-item metrics ------------------------------------------------------------------------------

@pytest.mark.slow
def test_per_item_metrics_equal_mats_scripts(everything, tmp_path):
    ours, reference = harness_values(everything), per_item_reference(everything, tmp_path)
    for name in ours:
        assert np.max(np.abs(np.subtract(ours[name], reference[name]))) <= EXACT, name


@pytest.mark.slow
def test_each_per_item_choice_moves_the_value(everything, tmp_path):
    ours = harness_values(everything)
    pairs = pairs_of(everything, tmp_path / "round")
    truncated = per_item_reference(everything, tmp_path / "trunc", how="truncate")
    composite = (everything.predictions * everything.masks + everything.images * (1 - everything.masks)).clamp(0, 1)
    variants = {
        ("PSNR", "truncation instead of rounding"): truncated["PSNR"],
        ("SSIM", "truncation instead of rounding"): truncated["SSIM"],
        ("L1", "truncation instead of rounding"): truncated["L1"],
        ("SSIM", "uniform 11x11 window"): [ssim_ref(p, t, window="uniform") for p, t in pairs],
        ("SSIM", "no 5-pixel crop (filter2D's REFLECT_101 border)"): [ssim_ref(p, t, crop=0) for p, t in pairs],
        ("L1", "float composite instead of the saved uint8"): (composite - everything.images).abs().flatten(1).mean(1).mul(100).tolist(),
        ("L1", "a fraction, not x100"): [l1_ref(p, t) for p, t in pairs],
    }
    for (name, choice), values in variants.items():
        assert np.max(np.abs(np.subtract(ours[name], values))) > EXACT, (name, choice)


def test_psnr_of_identical_images_is_capped_at_100():
    images = torch.rand(1, 3, 32, 32)
    rows = Scorer(get_profile("mat"), names=("PSNR",))(images, images, (torch.rand(1, 1, 32, 32) > 0.5).float())
    assert rows[0]["PSNR"] == 100.0


def test_rounding_is_half_to_even_and_not_truncation():
    levels = torch.tensor([0.5, 1.5, 2.5, 201.6, 254.7]) / 255
    codes = mat_metrics.rounded(levels.view(1, 1, 1, -1).expand(1, 3, 1, 5))[0, 0, 0].tolist()
    assert codes == [0, 2, 2, 202, 255]


# --- LPIPS (random AlexNet backbone, offline) --------------------------------------------------------

def _random_lpips(net: str) -> torch.nn.Module:
    import lpips

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()


@contextmanager
def injected(models: dict[str, torch.nn.Module]):
    build = lpips_model._build
    lpips_model._build = lambda net, device, files: models.get(net)
    try:
        yield
    finally:
        lpips_model._build = build


def lpips_ref(model: torch.nn.Module, pairs, scale: str = "127.5") -> list[float]:
    """cal_lpips.py: uint8 CHW float / 127.5 − 1, ``loss_fn(inpainted, gt).mean()`` per image."""
    out = []
    with torch.no_grad():
        for inpainted, gt in pairs:
            a, b = (torch.from_numpy(x.transpose(2, 0, 1)).float().unsqueeze(0) for x in (inpainted, gt))
            a, b = (a / 127.5 - 1, b / 127.5 - 1) if scale == "127.5" else (a / 255, b / 255)
            out.append(float(model(a, b).mean()))
    return out


@pytest.mark.slow
def test_lpips_equals_mats_script_and_its_choices_matter(photos, tmp_path):
    batch = Batch(photos.labels[5:8], photos.images[5:8], photos.predictions[5:8], photos.masks[5:8])
    alex, vgg = _random_lpips("alex"), _random_lpips("vgg")
    with injected({"alex": alex}):
        ours = harness_values(batch, ("LPIPS",))["LPIPS"]
    pairs = pairs_of(batch, tmp_path)
    assert np.max(np.abs(np.subtract(ours, lpips_ref(alex, pairs)))) <= LPIPS_EXACT
    for choice, values in {"vgg instead of alex": lpips_ref(vgg, pairs), "[0,1] input": lpips_ref(alex, pairs, "255"),
                           "truncation": lpips_ref(alex, pairs_of(batch, tmp_path / "t", how="truncate"))}.items():
        assert np.max(np.abs(np.subtract(ours, values))) > LPIPS_EXACT, choice


# --- FID, P-IDS, U-IDS ---------------------------------------------------------------------------------

class FeatureStats:
    """cal_fid_pids_uids.py's accumulation: float32 features kept, float64 sums, 1/N covariance."""

    def __init__(self):
        self.all, self.raw_mean, self.raw_cov, self.n = [], 0.0, 0.0, 0

    def append(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        self.all.append(x)
        x64 = x.astype(np.float64)
        self.raw_mean, self.raw_cov, self.n = self.raw_mean + x64.sum(0), self.raw_cov + x64.T @ x64, self.n + len(x)

    def mean_cov(self, ddof: int = 0):
        mean = self.raw_mean / self.n
        return mean, (self.raw_cov - self.n * np.outer(mean, mean)) / (self.n - ddof)


#: The statistics are re-stated on the features projected to this many dimensions: sqrtm of a
#: 2048² product costs minutes under load, of a 256² one milliseconds. With fewer items than
#: dimensions mat.fid still takes its low-rank route, as at 2048; the features themselves are
#: compared in full (P-IDS / U-IDS read all 2048 dimensions).
PROJECTED = 256


def projection(dimensions: int = 2048) -> np.ndarray:
    """A seeded orthonormal map from the 2048 feature dimensions to :data:`PROJECTED`."""
    return np.linalg.qr(np.random.default_rng(0).standard_normal((dimensions, PROJECTED)))[0]


def projected(stats: FeatureStats) -> FeatureStats:
    out = FeatureStats()
    for x in stats.all:
        out.append(x.astype(np.float64) @ projection())
    return out


def mat_fid(fake: FeatureStats, real: FeatureStats, ddof: int = 0) -> float:
    """cal_fid_pids_uids.py's FID, on :func:`projected` features."""
    import scipy.linalg

    (mu1, s1), (mu2, s2) = projected(fake).mean_cov(ddof), projected(real).mean_cov(ddof)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.real(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - root * 2)))


def mat_ids(fake: FeatureStats, real: FeatureStats) -> tuple[float, float]:
    """cal_fid_pids_uids.py's P-IDS and U-IDS on the full features."""
    import sklearn.svm

    fakes, reals = np.concatenate(fake.all), np.concatenate(real.all)
    svm = sklearn.svm.LinearSVC(dual=False).fit(np.concatenate([reals, fakes]), [1] * len(reals) + [0] * len(fakes))
    u_ids = 1 - svm.score(np.concatenate([reals, fakes]), [1] * len(reals) + [0] * len(fakes))
    p_ids = float(np.mean(svm.decision_function(fakes) > svm.decision_function(reals)))
    return p_ids, float(u_ids)


def detector(trunk: torch.nn.Module, image_hwc: np.ndarray, resize: str = "tf1") -> np.ndarray:
    """The detector at batch 1 and native size: TF1 bilinear resize to 299 (torch-fidelity's
    implementation of that geometry), (x − 128)/128, the trunk."""
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = torch.from_numpy(image_hwc.transpose(2, 0, 1).copy()).unsqueeze(0).to(torch.float32)
    if resize == "tf1":
        x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    else:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        return trunk((x - 128) / 128).reshape(-1, 2048).numpy()


def reference_features(trunk, pairs, resize: str = "tf1") -> tuple[FeatureStats, FeatureStats]:
    fake, real = FeatureStats(), FeatureStats()
    for inpainted, gt in pairs:
        fake.append(detector(trunk, inpainted, resize))
        real.append(detector(trunk, gt, resize))
    return fake, real


@pytest.mark.slow
@needs_trunk
def test_fid_and_ids_equal_mats_script_and_their_choices_matter(photos, tmp_path, one_thread):
    extractor = mat_metrics.features("cpu")
    composite = (photos.predictions * photos.masks + photos.images * (1 - photos.masks)).clamp(0, 1)
    fake_ours, real_ours = extractor(extractor.to_uint8(composite)), extractor(extractor.to_uint8(photos.images))
    ours_fid = get_metric("mat.FID").load()(real_ours @ projection(), fake_ours @ projection())
    ours_ids = [get_metric(key).load()(real_ours, fake_ours) for key in ("mat.P-IDS", "mat.U-IDS")]

    trunk = extractor.module.trunk
    pairs = pairs_of(photos, tmp_path)
    fake, real = reference_features(trunk, pairs)
    fid = mat_fid(fake, real)
    assert len(pairs) < PROJECTED and abs(ours_fid - fid) <= FID_RELATIVE * fid
    assert tuple(ours_ids) == mat_ids(fake, real)

    moved = {
        "N-1 covariance": mat_fid(fake, real, ddof=1),
        "F.interpolate instead of the TF1 grid": mat_fid(*reference_features(trunk, pairs, "interpolate")),
        "truncated composite": mat_fid(*reference_features(trunk, pairs_of(photos, tmp_path / "t", "truncate"))),
    }
    for choice, value in moved.items():
        assert abs(value - fid) > FID_RELATIVE * fid, choice


def test_p_ids_pairs_by_index_and_u_ids_does_not():
    """On features where the SVM cannot separate everything: shuffling the fakes moves P-IDS only."""
    rng = np.random.default_rng(0)
    real = rng.standard_normal((200, 8))
    fake = real + 0.3 * rng.standard_normal((200, 8)) + 0.1
    p_ids, u_ids = (get_metric(key).load()(real, fake) for key in ("mat.P-IDS", "mat.U-IDS"))
    assert 0 < u_ids < 0.5 and 0 < p_ids < 0.5
    shuffled = fake[rng.permutation(len(fake))]
    assert get_metric("mat.U-IDS").load()(real, shuffled) == u_ids
    assert get_metric("mat.P-IDS").load()(real, shuffled) != p_ids
    assert (p_ids, u_ids) == inception_discriminative_scores(real, fake)


def test_low_rank_fid_equals_the_sqrtm_form():
    """Fewer items than dimensions: the N x N route gives the sqrtm value (1/N) and torch-fidelity's (N−1)."""
    import scipy.linalg

    from harness.metrics.setlevel import frechet_distance

    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) * 1.3 + 0.2
    for ddof, ours in ((0, mat_metrics.fid(real, fake)), (1, frechet_distance(real, fake))):
        covs = [np.cov(x, rowvar=False, ddof=ddof) for x in (fake, real)]
        root = scipy.linalg.sqrtm(covs[0] @ covs[1])
        expected = np.square(fake.mean(0) - real.mean(0)).sum() + np.trace(covs[0] + covs[1] - 2 * np.real(root))
        assert ours == pytest.approx(expected, rel=1e-6)


def test_mat_set_metrics_have_their_own_columns_and_kid_is_refused():
    assert [set_metric(n, "mat").name for n in ("FID", "P-IDS", "U-IDS")] == ["mat.FID", "mat.P-IDS", "mat.U-IDS"]
    assert [set_metric(n).name for n in ("FID", "P-IDS", "U-IDS")] == ["FID", "P-IDS", "U-IDS"]
    with pytest.raises(Exception, match="KID.*profile mat"):
        set_metric("KID", "mat")
    with pytest.raises(Exception, match="need that --profile"):
        set_metric("mat.FID")


@pytest.mark.slow
@needs_trunk
def test_a_mat_run_names_its_set_metrics_and_their_features(tmp_path, one_thread):
    import json

    from harness.metrics.inception_trunk import MAPPED_SHA256
    from harness.config import RunConfig
    from harness.data.spec import RunSpec
    from harness.engine.runner import run
    from harness.store.records import load_set_metrics

    spec = RunSpec(limit=5, size=32, buckets="20-40", profile="mat")  # 5: the fewest a set-level value needs
    first = run(RunConfig.of(spec, ["telea"], out=tmp_path, metrics=("PSNR",)))
    result = run(RunConfig.of(spec, ["telea"], out=tmp_path, metrics=("PSNR",),
                              set_metrics=("FID", "P-IDS", "U-IDS"), set_bootstrap=0))
    assert first.methods[0].predicted == 5 and result.methods[0].predicted == 0  # features only, no prediction
    sets = load_set_metrics(tmp_path)
    assert sorted(sets["metric"]) == ["mat.FID", "mat.P-IDS", "mat.U-IDS"] and sets["value"].notna().all()
    assert sets["features"].str.contains("NVIDIA").all()
    info = json.loads((result.run_dir / "methods" / "telea" / "method.json").read_text())
    assert info["set_features"]["weights"]["mapped_sha256"] == MAPPED_SHA256
    assert "affine_grid" in info["set_features"]["resize"]
    summary = json.loads((result.run_dir / "results.json").read_text())
    assert summary["methods"]["telea"]["set_features"] == info["set_features"]
    assert all("mat.FID" in cell and "FID" not in cell for cell in summary["results"])
    with pytest.raises(Exception, match="does not apply"):
        run(RunConfig.of(spec, ["telea"], out=tmp_path, set_metrics=("FID",), inception_weights=Path("x.pth")))


def test_preflight_checks_set_metrics_under_each_profile():
    """--set-metrics names pass the run's pre-flight check under the profile that will score them."""
    from harness.cli.app import build_parser
    from harness.cli.preflight import check_run_flags

    def flags(profile: str, names: str):
        return build_parser().parse_args(["run", "--methods", "telea", "--profile", profile, "--set-metrics", names])

    check_run_flags(flags("mat", "FID,P-IDS,U-IDS"), ["telea"])
    check_run_flags(flags("paper,mat", "FID,P-IDS,U-IDS"), ["telea"])
    with pytest.raises(Exception, match="KID.*profile mat"):
        check_run_flags(flags("paper,mat", "FID,KID"), ["telea"])
