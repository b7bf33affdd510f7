"""The ``lama`` and ``edgeconnect`` profiles against references re-stated from the upstream code.

Upstream: advimman/lama at 786f593 (bin/predict.py, bin/evaluate_predicts.py,
saicinpainting/evaluation/{data.py, losses/ssim.py, losses/base_loss.py, losses/lpips.py}) and
knazeri/edge-connect at 3142579 (src/edge_connect.py test() and postprocess, src/utils.py imsave,
scripts/metrics.py with scikit-image ~= 0.14). The references below are written from those facts
independently of harness.metrics.lama / .edgeconnect: real PNG files (cv2 / PIL), numpy, scipy
and an own float32 conv2d.

1. Every profile value equals its reference to ``EXACT`` (1e-6), through the real Scorer.
2. Every convention choice, altered alone in the reference, moves the value by more than
   ``EXACT`` on these images, so the equality of point 1 would catch a wrong choice.

Images: scikit-image colour photos at 256² with generated free-form holes (the paper's three
buckets) filled by OpenCV Telea, as the harness's ``telea`` does. Telea's output lies exactly on
the uint8 grid, so rounding and truncation agree on it; the same photos filled by the
harness's ``biharmonic`` (continuous values, as a network's) show what quantisation does. A
few adversarial images (flat, saturated, tiny differences, values just below a level) complete
the set. ``python -m tests.test_metric_conventions`` prints the residuals and the moves.
"""
from __future__ import annotations

import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.ndimage import correlate, uniform_filter
from skimage import data
from skimage.color import rgb2gray

from baselines.classical import biharmonic, telea
from harness.data.images import prepare_image
from harness.metrics import get_profile, lpips_model
from harness.metrics.lama import exact_float32, saved_png_float
from harness.metrics.edgeconnect import saved_png_grey
from harness.metrics.scoring import Scorer
from harness.engine.prediction import predict_batch
from masks.buckets import PAPER_BUCKETS
from masks.generator import free_form_mask

EXACT = 1e-6
SIZE = 256
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "stereo_motorcycle:0")


# --- the images ----------------------------------------------------------------------------------

def _photo(name: str) -> torch.Tensor:
    loader, _, index = name.partition(":")
    array = getattr(data, loader)()
    array = array[int(index)] if index else array
    return torch.from_numpy(prepare_image(array, SIZE)).permute(2, 0, 1).float() / 255


@dataclass
class Batch:
    labels: list[str]
    images: torch.Tensor  # [B,3,H,W] float32, ground truth
    predictions: torch.Tensor  # [B,3,H,W]
    masks: torch.Tensor  # [B,1,H,W], 1 = hole


def photo_batch() -> Batch:
    """Each photo with a generated mask (bucket i mod 3), filled by Telea and by biharmonic."""
    images = torch.stack([_photo(name) for name in PHOTOS])
    masks = torch.stack([torch.from_numpy(free_form_mask(SIZE, PAPER_BUCKETS[i % 3], 0, i))[None] for i in range(len(PHOTOS))])
    fills = [predict_batch(method(), images, masks).outputs for method in (telea, biharmonic)]
    labels = [f"{name}/{method}" for method in ("telea", "biharmonic") for name in PHOTOS]
    return Batch(labels, images.repeat(2, 1, 1, 1), torch.cat(fills), masks.repeat(2, 1, 1, 1))


def adversarial_batch() -> Batch:
    mask = torch.from_numpy(free_form_mask(SIZE, PAPER_BUCKETS[1], 0, 7))[None]
    flat = torch.full((3, SIZE, SIZE), 200 / 255)
    saturated = torch.zeros(3, SIZE, SIZE)
    saturated[:, : SIZE // 2] = 1.0  # white top, black bottom
    astronaut, chelsea = _photo("astronaut"), _photo("chelsea")
    cases = {
        "flat": (flat, torch.full_like(flat, 201.6 / 255)),  # truncation 201, rounding 202
        "saturated": (saturated, torch.where(saturated > 0, 254.7 / 255, 0.7 / 255)),  # 254/0 vs 255/1
        "tiny": (astronaut, (astronaut + 1.6 / 255).clamp(0, 1)),  # one or two levels up
        "below level": (chelsea, (chelsea + 0.999 / 255).clamp(0, 1)),  # truncation: unchanged
    }
    return Batch(list(cases), torch.stack([t for t, _ in cases.values()]), torch.stack([p for _, p in cases.values()]),
                 mask[None].expand(len(cases), 1, SIZE, SIZE).clone())


# --- the references, from the upstream facts -------------------------------------------------------

GREY = (0.2125, 0.7154, 0.0721)


def _gaussian_window(sum_in_float32: bool = False) -> np.ndarray:
    """losses/ssim.py: exp(-(x-5)²/(2·1.5²)) in float64, stored float32, divided by their sum
    (torch's float32 ``gauss.sum()``; with torch 2.x it is the correctly rounded sum, 3.7592327594757),
    outer product in float32. ``sum_in_float32``: numpy's sequential float32 sum, one ulp lower."""
    taps = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2)).astype(np.float32)
    total = taps.sum(dtype=np.float32) if sum_in_float32 else np.float32(taps.astype(np.float64).sum())
    return np.outer(taps / total, taps / total)


def lama_ssim_reference(pred: np.ndarray, truth: np.ndarray, dtype=np.float32, window: str = "gaussian",
                        padding: str = "zeros", crop: int = 0, sum_in_float32: bool = False) -> float:
    """LaMa's SSIM of two float CHW images: windowed means by conv2d (one group per map and
    channel), variance E[x²] − μ², C1 = 0.01², C2 = 0.03², mean of the map."""
    kernel = _gaussian_window(sum_in_float32) if window == "gaussian" else np.full((7, 7), 1 / 49, np.float32)
    x, y = pred.astype(dtype), truth.astype(dtype)
    stack = np.concatenate([x, y, x * x, y * y, x * y])  # [15, H, W]
    radius = kernel.shape[0] // 2
    if dtype == np.float64:  # any exact float64 filter will do (torch's float64 conv2d is slow): scipy, zeros outside
        blurred = correlate(stack, kernel.astype(np.float64)[None], mode="constant" if padding == "zeros" else "mirror")
    else:
        planes = torch.from_numpy(stack)[None]
        if padding == "reflect":
            planes = F.pad(planes, (radius,) * 4, mode="reflect")
        weight = torch.from_numpy(kernel).expand(15, 1, *kernel.shape)
        with exact_float32():
            blurred = F.conv2d(planes, weight, padding=radius if padding == "zeros" else 0, groups=15)[0].numpy()
    mx, my, exx, eyy, exy = np.split(blurred, 5)
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mx * my + c1) * (2 * (exy - mx * my) + c2)) / \
               ((mx * mx + my * my + c1) * ((exx - mx * mx) + (eyy - my * my) + c2))
    height, width = ssim_map.shape[1:]
    return float(ssim_map[:, crop:height - crop, crop:width - crop].mean(dtype=np.float64))


def _grey(rgb: np.ndarray, how: str) -> np.ndarray:
    """skimage 0.14 rgb2gray = np.dot(rgb float32, float32 coefficients). On a C-contiguous HxWx3
    array (what imread returns) numpy's dot rounds the double sum of the float32 products once
    (observed: FLOAT_dot via BLAS sdot); written out here without np.dot."""
    if how == "rgb":
        return rgb
    if how == "skimage":  # today's rgb2gray: rgb @ coeffs, summed in float32
        return rgb2gray(rgb)
    products = [(rgb[..., c] * np.float32(k)).astype(np.float64) for c, k in enumerate(GREY)]
    return ((products[0] + products[1]) + products[2]).astype(np.float32)


def ec_psnr_reference(gt: np.ndarray, pred: np.ndarray) -> float:
    """compare_psnr(data_range=1): float32 difference squared, mean in float64, 10·log10(1/MSE)."""
    mse = np.mean(np.square(gt - pred), dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(1.0 / mse))


def ec_ssim_reference(gt: np.ndarray, pred: np.ndarray, win: int = 51, crop: bool = True, sample: bool = True,
                      dtype=np.float64) -> float:
    """compare_ssim(data_range=1, win_size=win) of skimage 0.14: both images to float64, scipy
    uniform_filter (reflect border), covariances × N/(N−1), the map cropped by (win−1)/2."""
    if gt.ndim == 3:  # RGB: the mean over channels, as multichannel=True did
        return float(np.mean([ec_ssim_reference(gt[..., c], pred[..., c], win, crop, sample, dtype) for c in range(3)]))
    x, y = gt.astype(dtype), pred.astype(dtype)
    mean = lambda z: uniform_filter(z, size=win)  # noqa: E731
    n = win * win
    norm = n / (n - 1) if sample else 1.0
    mx, my = mean(x), mean(y)
    vx, vy, vxy = norm * (mean(x * x) - mx * mx), norm * (mean(y * y) - my * my), norm * (mean(x * y) - mx * my)
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    r = (win - 1) // 2 if crop else 0
    return float(ssim_map[r:ssim_map.shape[0] - r, r:ssim_map.shape[1] - r].mean(dtype=np.float64))


def ec_mae_reference(gt: np.ndarray, pred: np.ndarray) -> float:
    """compare_mae: Σ|gt − pred| / Σ(gt + pred) in float32."""
    return float(np.sum(np.abs(gt - pred)) / np.sum(gt + pred))


class Item:
    """One image pair as each codebase stores and re-reads it (real PNG files in ``folder``)."""

    def __init__(self, label: str, image: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor, folder: Path):
        self.label = label
        hwc = lambda t: t.permute(1, 2, 0).numpy().astype(np.float32)  # noqa: E731
        img, pred, hole = hwc(image), hwc(prediction), hwc(mask)
        self.truth = np.clip(img, 0, 1)
        self.composite = np.clip(pred * hole + img * (1 - hole), 0, 1)
        self.folder = folder / label.replace("/", "-").replace(" ", "-")
        self.folder.mkdir(parents=True, exist_ok=True)

    def _png(self, name: str, codes: np.ndarray, bgr: bool = False) -> np.ndarray:
        path = self.folder / f"{name}.png"
        if bgr:  # bin/predict.py: cv2.cvtColor(RGB2BGR) + cv2.imwrite
            cv2.imwrite(str(path), cv2.cvtColor(codes, cv2.COLOR_RGB2BGR))
        else:
            Image.fromarray(codes).save(path)
        return np.array(Image.open(path).convert("RGB"))

    # LaMa: np.clip(x * 255, 0, 255).astype('uint8') → PNG → PIL RGB → float32 / 255, CHW
    def _lama(self, x: np.ndarray, name: str, rounding: bool, bgr: bool) -> np.ndarray:
        scaled = np.clip(x * 255, 0, 255)
        codes = (np.round(scaled) if rounding else scaled).astype("uint8")
        return np.transpose(self._png(name, codes, bgr), (2, 0, 1)).astype("float32") / 255

    @cached_property
    def lama(self) -> tuple[np.ndarray, np.ndarray]:
        return self._lama(self.composite, "lama-pred", False, True), self._lama(self.truth, "lama-gt", False, False)

    @cached_property
    def lama_rounded(self) -> tuple[np.ndarray, np.ndarray]:
        return self._lama(self.composite, "lama-pred-round", True, True), self._lama(self.truth, "lama-gt-round", True, False)

    @property
    def lama_float(self) -> tuple[np.ndarray, np.ndarray]:
        return np.transpose(self.composite, (2, 0, 1)), np.transpose(self.truth, (2, 0, 1))

    # EdgeConnect: (x * 255.0).int() → astype(uint8) → PIL PNG → imread → / 255.0 → float32
    def _ec(self, x: np.ndarray, name: str, rounding: bool) -> np.ndarray:
        scaled = x * np.float32(255.0)
        codes = (np.round(scaled) if rounding else np.trunc(scaled)).astype(np.int32).astype(np.uint8)
        return (self._png(name, codes) / 255.0).astype(np.float32)

    @cached_property
    def ec(self) -> tuple[np.ndarray, np.ndarray]:
        """(ground truth, output) as metrics.py reads them, RGB float32."""
        return self._ec(self.truth, "ec-gt", False), self._ec(self.composite, "ec-pred", False)

    @cached_property
    def ec_rounded(self) -> tuple[np.ndarray, np.ndarray]:
        return self._ec(self.truth, "ec-gt-round", True), self._ec(self.composite, "ec-pred-round", True)

    def ec_grey(self, how: str = "dot", rounded: bool = False) -> tuple[np.ndarray, np.ndarray]:
        gt, pred = self.ec_rounded if rounded else self.ec
        return _grey(gt, how), _grey(pred, how)


def items(batch: Batch, folder: Path) -> list[Item]:
    return [Item(*args, folder) for args in zip(batch.labels, batch.images, batch.predictions, batch.masks)]


def _capped(value: float) -> float:
    return min(100.0, value)  # the harness's PSNR column cap (upstream: none; inf for identical images)


#: metric → reference value of one item under the upstream convention
REFERENCE = {
    "lama.SSIM": lambda it: lama_ssim_reference(*it.lama),
    "edgeconnect.PSNR": lambda it: _capped(ec_psnr_reference(*it.ec_grey())),
    "edgeconnect.SSIM": lambda it: ec_ssim_reference(*it.ec_grey()),
    "edgeconnect.MAE": lambda it: ec_mae_reference(*it.ec_grey()),
}

#: (metric, the choice altered, the images it is shown on, the altered reference)
VARIANTS = [
    ("lama.SSIM", "rounding instead of truncation", "photos", lambda it: lama_ssim_reference(*it.lama_rounded)),
    ("lama.SSIM", "float composite, no PNG", "photos", lambda it: lama_ssim_reference(*it.lama_float)),
    ("lama.SSIM", "float64 instead of float32", "photos", lambda it: lama_ssim_reference(*it.lama, dtype=np.float64)),
    ("lama.SSIM", "reflect instead of zero padding", "photos", lambda it: lama_ssim_reference(*it.lama, padding="reflect")),
    ("lama.SSIM", "7x7 uniform instead of 11x11 Gaussian", "photos", lambda it: lama_ssim_reference(*it.lama, window="uniform")),
    ("lama.SSIM", "map cropped by 5 px", "photos", lambda it: lama_ssim_reference(*it.lama, crop=5)),
    ("lama.SSIM", "window sum one float32 ulp lower", "photos", lambda it: lama_ssim_reference(*it.lama, sum_in_float32=True)),
    ("edgeconnect.PSNR", "rounding instead of truncation", "photos", lambda it: _capped(ec_psnr_reference(*it.ec_grey(rounded=True)))),
    ("edgeconnect.PSNR", "RGB instead of grey", "photos", lambda it: _capped(ec_psnr_reference(*it.ec_grey("rgb")))),
    ("edgeconnect.PSNR", "today's rgb2gray (float32 @) instead of 0.14's np.dot", "adversarial",
     lambda it: _capped(ec_psnr_reference(*it.ec_grey("skimage")))),
    ("edgeconnect.SSIM", "rounding instead of truncation", "photos", lambda it: ec_ssim_reference(*it.ec_grey(rounded=True))),
    ("edgeconnect.SSIM", "RGB instead of grey", "photos", lambda it: ec_ssim_reference(*it.ec_grey("rgb"))),
    ("edgeconnect.SSIM", "7x7 window instead of 51x51", "photos", lambda it: ec_ssim_reference(*it.ec_grey(), win=7)),
    ("edgeconnect.SSIM", "no crop", "photos", lambda it: ec_ssim_reference(*it.ec_grey(), crop=False)),
    ("edgeconnect.SSIM", "population instead of sample covariance", "photos",
     lambda it: ec_ssim_reference(*it.ec_grey(), sample=False)),
    ("edgeconnect.SSIM", "float32 (today's skimage on float32 input) instead of float64", "adversarial",
     lambda it: ec_ssim_reference(*it.ec_grey(), dtype=np.float32)),
    ("edgeconnect.MAE", "rounding instead of truncation", "photos", lambda it: ec_mae_reference(*it.ec_grey(rounded=True))),
    ("edgeconnect.MAE", "RGB instead of grey", "photos", lambda it: ec_mae_reference(*it.ec_grey("rgb"))),
    ("edgeconnect.MAE", "mean |gt - pred| instead of the relative sum", "photos",
     lambda it: float(np.mean(np.abs(np.subtract(*it.ec_grey()))))),
]


def profile_values(batch: Batch) -> dict[str, list[float]]:
    """Per-item values of the lama SSIM and every edgeconnect metric through the real Scorer."""
    found: dict[str, list[float]] = {}
    for profile in ("lama", "edgeconnect"):
        scorer = Scorer(get_profile(profile), names=("PSNR", "SSIM", "MAE (rel)"))
        rows = scorer(batch.images, batch.predictions, batch.masks)
        for metric in scorer.metrics:
            found[metric.key] = [row[metric.name] for row in rows]
    return found


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("conventions")


@pytest.fixture(scope="module")
def photos(folder) -> tuple[Batch, list[Item], dict[str, list[float]]]:
    batch = photo_batch()
    return batch, items(batch, folder / "photos"), profile_values(batch)


@pytest.fixture(scope="module")
def adversarial(folder) -> tuple[Batch, list[Item], dict[str, list[float]]]:
    batch = adversarial_batch()
    return batch, items(batch, folder / "adversarial"), profile_values(batch)


def _residual(values: list[float], refs: list[Item], metric: str) -> float:
    return max(abs(v - REFERENCE[metric](it)) for v, it in zip(values, refs))


# --- 1. equality with the references ----------------------------------------------------------------

@pytest.mark.parametrize("metric", list(REFERENCE))
@pytest.mark.parametrize("images", ["photos", "adversarial"])
def test_profile_equals_upstream_reference(metric, images, request):
    _, refs, values = request.getfixturevalue(images)
    assert _residual(values[metric], refs, metric) <= EXACT


# --- 2. every convention choice matters ------------------------------------------------------------

@pytest.mark.parametrize("metric, choice, images, variant", VARIANTS, ids=[f"{m}: {c}" for m, c, _, _ in VARIANTS])
def test_each_convention_choice_moves_the_value(metric, choice, images, variant, request):
    _, refs, values = request.getfixturevalue(images)
    moves = [abs(variant(it) - v) for it, v in zip(refs, values[metric])]
    assert max(moves) > EXACT, f"{choice}: moves {metric} by at most {max(moves):.2e}"


def test_truncation_and_rounding_agree_on_telea_fills(photos):
    """Telea works on uint8 and its fills are on the uint8 grid: the quantisation choice cannot show there."""
    _, refs, _ = photos
    telea_items = [it for it in refs if it.label.endswith("/telea")]
    assert telea_items and all(np.array_equal(it.lama_rounded[0], it.lama[0]) for it in telea_items)
    assert all(lama_ssim_reference(*it.lama_rounded) == lama_ssim_reference(*it.lama) for it in telea_items)


# --- LPIPS, with a random VGG backbone (offline) ---------------------------------------------------

def _random_lpips(net: str) -> torch.nn.Module:
    import lpips

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()


def _lpips_reference(model: torch.nn.Module, pairs: list[tuple[np.ndarray, np.ndarray]], minus_one_to_one: bool = True):
    """PerceptualLoss.forward(pred, target, normalize=True): model(2·target − 1, 2·pred − 1)."""
    pred = torch.from_numpy(np.stack([p for p, _ in pairs]))
    truth = torch.from_numpy(np.stack([t for _, t in pairs]))
    if minus_one_to_one:
        pred, truth = 2 * pred - 1, 2 * truth - 1
    with torch.no_grad():
        return model(truth, pred).flatten().tolist()


def lpips_batch(photos: Batch, adversarial: Batch) -> Batch:
    """A photo with a biharmonic fill (continuous values) and the flat adversarial image."""
    pick = [len(PHOTOS) + 1]
    return Batch([photos.labels[i] for i in pick] + adversarial.labels[:1],
                 torch.cat([photos.images[pick], adversarial.images[:1]]),
                 torch.cat([photos.predictions[pick], adversarial.predictions[:1]]),
                 torch.cat([photos.masks[pick], adversarial.masks[:1]]))


@contextmanager
def injected_lpips(model: torch.nn.Module):
    """The harness's LPIPS builder returns ``model`` (a random backbone: nothing is downloaded)."""
    build = lpips_model._build
    lpips_model._build = lambda net, device, files=None: model if net == "vgg" else None
    try:
        yield
    finally:
        lpips_model._build = build


def lpips_numbers(batch: Batch, refs: list[Item]) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """(the lama profile's LPIPS through the Scorer, the reference, the reference with one choice altered)."""
    model = _random_lpips("vgg")
    with injected_lpips(model):
        rows = Scorer(get_profile("lama"), names=("LPIPS",))(batch.images, batch.predictions, batch.masks)
    variants = {
        "alex instead of vgg": _lpips_reference(_random_lpips("alex"), [it.lama for it in refs]),
        "float composite, no PNG": _lpips_reference(model, [it.lama_float for it in refs]),
        "rounding instead of truncation": _lpips_reference(model, [it.lama_rounded for it in refs]),
        "[0,1] input, no 2x-1": _lpips_reference(model, [it.lama for it in refs], minus_one_to_one=False),
    }
    return [row["LPIPS"] for row in rows], _lpips_reference(model, [it.lama for it in refs]), variants


@pytest.mark.slow
def test_lama_lpips_equals_reference_and_its_choices_matter(photos, adversarial, folder):
    batch = lpips_batch(photos[0], adversarial[0])
    ours, reference, variants = lpips_numbers(batch, items(batch, folder / "lpips"))
    assert max(abs(a - b) for a, b in zip(ours, reference)) <= EXACT
    for choice, values in variants.items():
        assert max(abs(a - b) for a, b in zip(ours, values)) > EXACT, choice


# --- edge cases and wiring -------------------------------------------------------------------------

def test_edgeconnect_psnr_is_capped_where_upstream_is_infinite_or_above_100(folder):
    image = _photo("coffee")[None]
    mask = torch.from_numpy(free_form_mask(SIZE, PAPER_BUCKETS[0], 0, 3))[None, None]
    one_level = image.clone()
    y, x = ((mask[0, 0] > 0) & (image[0, 2] < 1)).nonzero()[0].tolist()
    one_level[0, 2, y, x] = (image[0, 2, y, x] * 255 + 1) / 255  # one level of blue at one pixel: ~119 dB
    scorer = Scorer(get_profile("edgeconnect"))
    for prediction, upstream in ((image, float("inf")), (one_level, None)):
        it = Item("cap", image[0], prediction[0], mask[0], folder)
        reference = ec_psnr_reference(*it.ec_grey())
        assert reference == upstream if upstream is not None else reference > 100
        row = scorer(image, prediction, mask)[0]
        assert row["PSNR"] == 100.0 and np.isfinite(list(row.values())).all()


def test_edgeconnect_mae_of_two_black_images_is_zero_not_nan():
    black = torch.zeros(1, 3, 32, 32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    assert Scorer(get_profile("edgeconnect"), names=("MAE (rel)",))(black, black, mask)[0]["MAE (rel)"] == 0.0


def test_quantisations_truncate_and_reread_like_upstream():
    levels = torch.tensor([0.0, 0.999 / 255, 1.0 / 255, 127.9 / 255, 254.999 / 255, 1.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    lama_pred, _ = saved_png_float(levels, levels)
    assert lama_pred.dtype == torch.float32
    assert np.array_equal(lama_pred[0, 0, 0].numpy(), np.array([0, 0, 1, 127, 254, 255], "uint8").astype("float32") / 255)
    grey, _ = saved_png_grey(levels, levels)  # equal channels: grey = level · (0.2125 + 0.7154 + 0.0721)
    assert grey.dtype == np.float32 and grey.shape == (1, 1, 6)
    np.testing.assert_allclose(grey[0, 0], np.array([0, 0, 1, 127, 254, 255]) / 255, atol=1e-7)


def test_exact_float32_switches_tf32_off_and_restores_it():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        with pytest.raises(RuntimeError), exact_float32():
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
            raise RuntimeError
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def test_profiles_name_their_upstream_and_share_columns_consistently():
    from harness.metrics.registry import column

    lama, edgeconnect = get_profile("lama"), get_profile("edgeconnect")
    assert [m.name for m in lama.metric_objects()] == ["SSIM", "LPIPS"]  # LaMa's evaluator has no PSNR or L1
    assert [m.name for m in edgeconnect.metric_objects()] == ["PSNR", "SSIM", "MAE (rel)"]
    assert "786f593" in lama.reference and "3142579" in edgeconnect.reference
    for metric in (*lama.metric_objects(), *edgeconnect.metric_objects()):
        first = column(metric.name)
        assert (first.higher_is_better, first.digits) == (metric.higher_is_better, metric.digits)
    assert not column("MAE (rel)").higher_is_better


def test_convention_effects_benchmark_runs_on_one_image_per_bucket():
    from benchmarks.convention_effects import BETWEEN, CHOICES, scores, table
    from harness.data.manifest import build_manifest
    from harness.registry import load_predictor
    from harness.data.spec import RunSpec

    manifest = build_manifest(RunSpec(limit=1))
    loaded = [(item, *manifest.load(item)) for item in manifest.items]
    images = torch.from_numpy(np.stack([image for _, image, _ in loaded])).permute(0, 3, 1, 2).float() / 255
    masks = torch.from_numpy(np.stack([mask for _, _, mask in loaded]))[:, None].float()
    values = scores(images, predict_batch(load_predictor("telea"), images, masks).outputs, masks)
    per_bucket = {item.bucket: [{k: v[i] for k, v in values.items()}] for i, (item, _, _) in enumerate(loaded)}
    text = table("Between profiles", BETWEEN, per_bucket) + table("One choice", CHOICES, per_bucket)
    assert all(b.label in text for b in PAPER_BUCKETS)
    for row in (r for rows in per_bucket.values() for r in rows):
        # the paper's uint8 RGB PSNR is the RGB PSNR of the same truncated images on [0,1]
        assert row["paper PSNR"] - row["edgeconnect PSNR"] == pytest.approx(
            row["edgeconnect PSNR, RGB"] - row["edgeconnect PSNR"], abs=1e-4)
        assert row["paper PSNR, rounding"] == row["paper PSNR"]  # Telea's fills are on the uint8 grid
        assert row["lama SSIM, float64"] != row["lama SSIM"]


# --- the numbers, for people -----------------------------------------------------------------------

def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        photo, adversarial = photo_batch(), adversarial_batch()
        sets = {name: (items(batch, Path(tmp) / name), profile_values(batch))
                for name, batch in (("photos", photo), ("adversarial", adversarial))}
        print("max |ours - reference|")
        for metric in REFERENCE:
            print(f"  {metric:18s}" + "".join(f"  {name} {_residual(v[metric], refs, metric):.1e}"
                                              for name, (refs, v) in sets.items()))
        print("how far each choice moves the value: min / max over the photos, max over the adversarial images "
              "(* the set the test asserts on)")
        for metric, choice, images, variant in VARIANTS:
            moves = {name: [abs(variant(it) - v) for it, v in zip(refs, values[metric])] for name, (refs, values) in sets.items()}
            star = {name: "*" if name == images else " " for name in sets}
            print(f"  {metric:18s} {choice:62s} {star['photos']}{min(moves['photos']):.1e} / {max(moves['photos']):.1e}"
                  f"   {star['adversarial']}{max(moves['adversarial']):.1e}")
        batch = lpips_batch(photo, adversarial)
        ours, reference, variants = lpips_numbers(batch, items(batch, Path(tmp) / "lpips"))
        print(f"lama.LPIPS (random VGG; {', '.join(batch.labels)}): max |ours - reference| "
              f"{max(abs(a - b) for a, b in zip(ours, reference)):.1e}; moves per item:")
        for choice, values in variants.items():
            print(f"  {choice:40s} " + "  ".join(f"{abs(a - b):.1e}" for a, b in zip(ours, values)))


if __name__ == "__main__":
    main()
