"""The paper profile against direct scikit-image / lpips computations on the same arrays."""
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness.metrics import get_profile, lpips_model
from harness.metrics.functional import to_uint8_truncated
from harness.metrics.scoring import Scorer


def _paper(images, predictions, masks, names, lpips_fn=None):
    scorer = Scorer(get_profile("paper"), names=names)
    if lpips_fn is not None:  # a random-backbone LPIPS in place of the (offline) pretrained one
        scorer._functions["paper.LPIPS"] = lambda views: lpips_fn(views.composite, views.truth).tolist()
    return scorer(images, predictions, masks)


def _batch(seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 3, size, size, generator=g)
    predictions = torch.rand(2, 3, size, size, generator=g)
    masks = (torch.rand(2, 1, size, size, generator=g) > 0.6).float()
    return images, predictions, masks


def test_truncation_not_rounding():
    x = torch.tensor([0.999 / 255, 1.6 / 255, 254.9 / 255, 1.0, 1.2, -0.1]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    u8 = to_uint8_truncated(x)[0, 0, :, 0]
    assert u8.tolist() == [0, 1, 254, 255, 255, 0]


def test_paper_profile_equals_direct_skimage():
    images, predictions, masks = _batch()
    rows = _paper(images, predictions, masks, ("PSNR", "SSIM", "L1"))
    for b in range(2):
        merged = (predictions[b] * masks[b] + images[b] * (1 - masks[b])).clamp(0, 1)
        # Independent reference: numpy floor of the float32 x255 values, as np.astype does.
        gt = np.floor(images[b].permute(1, 2, 0).numpy() * np.float32(255)).astype(np.uint8)
        pre = np.floor(merged.permute(1, 2, 0).numpy() * np.float32(255)).astype(np.uint8)
        assert rows[b]["PSNR"] == pytest.approx(peak_signal_noise_ratio(gt, pre), abs=1e-12)
        ssim = structural_similarity(gt, pre, channel_axis=-1, data_range=255, win_size=7,
                                     gaussian_weights=False, use_sample_covariance=True)
        assert rows[b]["SSIM"] == pytest.approx(ssim, abs=1e-12)
        assert rows[b]["L1"] == pytest.approx(float(np.abs(merged.numpy() - images[b].numpy()).mean()) * 100, rel=1e-6)


def test_truncation_changes_psnr_versus_rounding():
    images, predictions, masks = _batch(1)
    row = _paper(images, predictions, masks, ("PSNR",))[0]
    merged = (predictions[0] * masks[0] + images[0] * (1 - masks[0])).clamp(0, 1)
    rounded = peak_signal_noise_ratio(
        np.round(images[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8),
        np.round(merged.permute(1, 2, 0).numpy() * 255).astype(np.uint8),
    )
    assert row["PSNR"] != pytest.approx(rounded, abs=1e-6)


def test_psnr_capped_at_100_for_identical_images():
    images, _, masks = _batch(2)
    row = _paper(images, images.clone(), masks, ("PSNR", "L1"))[0]
    assert row["PSNR"] == 100.0 and row["L1"] == 0.0


def test_composite_ignores_prediction_outside_holes():
    images, predictions, masks = _batch(3)
    noisy = predictions + (1 - masks) * 5.0  # garbage where the mask says "known"
    a = _paper(images, predictions, masks, ("PSNR", "SSIM", "L1"))
    b = _paper(images, noisy, masks, ("PSNR", "SSIM", "L1"))
    assert a == b


def test_lpips_matches_lpips_package_on_minus_one_to_one():
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="vgg", version="0.1", pnet_rand=True, verbose=False).eval()

    def fn(a, b):
        with torch.no_grad():
            return model(a * 2 - 1, b * 2 - 1).flatten()

    images, predictions, masks = _batch(4, size=64)
    rows = _paper(images, predictions, masks, ("LPIPS",), fn)
    merged = (predictions * masks + images * (1 - masks)).clamp(0, 1)
    with torch.no_grad():
        reference = model(merged, images, normalize=True).flatten()  # lpips' own [0,1] → [-1,1]
    assert [r["LPIPS"] for r in rows] == pytest.approx(reference.tolist(), abs=1e-6)


def test_lpips_unavailable_offline_warns_and_returns_none(monkeypatch):
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("offline")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    lpips_model._build.cache_clear()
    with pytest.warns(RuntimeWarning, match="LPIPS unavailable"):
        assert lpips_model.lpips_distance("vgg") is None
    lpips_model._build.cache_clear()


def _device_pairs():
    """Real photos with Telea-like fills, and adversarial pairs: flat, saturated, tiny differences."""
    from skimage import data

    from harness.data.images import prepare_image

    rng = np.random.default_rng(7)
    photos = [prepare_image(getattr(data, n)(), 64) for n in ("astronaut", "chelsea", "coffee", "rocket")]
    pairs = []
    for photo in photos:
        other = photo.copy()
        other[10:40, 5:50] = rng.integers(0, 256, (30, 45, 3))
        pairs.append((photo, other))
    flat = np.full((64, 64, 3), 128, np.uint8)
    pairs.append((flat, flat.copy()))  # identical flat: SSIM 1, PSNR capped
    tiny = flat.copy()
    tiny[0, 0, 0] = 129
    pairs.append((flat, tiny))  # one grey level in one pixel
    pairs.append((np.full((64, 64, 3), 255, np.uint8), np.zeros((64, 64, 3), np.uint8)))  # saturated extremes
    pairs.append((photos[0], np.clip(photos[0].astype(int) + 1, 0, 255).astype(np.uint8)))  # off by one everywhere
    return pairs


def test_device_psnr_and_ssim_equal_scikit_image_to_1e_10():
    from types import SimpleNamespace

    from harness.metrics.functional import psnr, psnr_torch, ssim, ssim_torch

    pairs = _device_pairs()
    gt = torch.from_numpy(np.stack([g for g, _ in pairs])).permute(0, 3, 1, 2)
    pre = torch.from_numpy(np.stack([p for _, p in pairs])).permute(0, 3, 1, 2)
    views = SimpleNamespace(quantised=(pre, gt))
    for got, want in zip(psnr_torch(views), [psnr(g, p) for g, p in pairs]):
        assert abs(got - want) <= 1e-10
    for got, want in zip(ssim_torch(views), [ssim(g, p) for g, p in pairs]):
        assert abs(got - want) <= 1e-10
    # The check can fail: population covariance instead of sample covariance moves SSIM by more.
    population = structural_similarity(pairs[0][0], pairs[0][1], channel_axis=-1, data_range=255, use_sample_covariance=False)
    assert abs(ssim_torch(views)[0] - population) > 1e-6


def test_metrics_on_the_cpu_explicitly_run_scikit_image_and_by_default_the_torch_formulas(tmp_path, monkeypatch):
    """Both paths score the same items to 1e-10; only ``--metrics-device cpu`` runs scikit-image itself."""
    from harness.store.cache import Cache
    from harness.engine.evaluation import Evaluation
    from harness.data.manifest import build_manifest
    import skimage.metrics

    from harness.data.spec import RunSpec
    from tests.plugin_methods import MeanFill

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    calls = {"skimage": 0}
    real = skimage.metrics.structural_similarity  # imported by the reference path when it runs

    def counted(*args, **kwargs):
        calls["skimage"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(skimage.metrics, "structural_similarity", counted)
    manifest = build_manifest(RunSpec(limit=2, size=64))
    results = {}
    for device in (None, "cpu"):
        evaluation = Evaluation(manifest, MeanFill(), "mean-fill", Cache(tmp_path / f"cache-{device}"),
                                metrics=("PSNR", "SSIM"), device=device)
        results[device] = evaluation.run(manifest.items, show_progress=False).rows
        assert evaluation.scorer.reference == (device == "cpu")
        assert calls["skimage"] == (len(manifest.items) if device == "cpu" else 0)
    for torch_row, reference_row in zip(results[None], results["cpu"]):
        assert torch_row["PSNR"] == pytest.approx(reference_row["PSNR"], abs=1e-10)
        assert torch_row["SSIM"] == pytest.approx(reference_row["SSIM"], abs=1e-10)
