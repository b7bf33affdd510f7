"""MI-GAN: the released state-dict format loads strictly; predictions equal the official evaluation
path (scripts/evaluate_fid_lpips.py + lib/model_zoo/migan_inference.py), re-stated here as
plain functions over the state dict, on random weights at both released resolutions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.migan import MIGANPredictor, network_input
from harness.engine.adapt import plan_fit
from harness.checkpoints import CheckpointError, MissingWeightsError
from harness.engine.prediction import predict_batch
from harness.predictor import SizeSpec
from harness.registry import load_predictor

MIGAN_DRIVE = "1xNtvN2lto0p5yFKOEEg9RioMjGrYM74w"
#: Worst |difference| accepted between the harness and the re-stated official path (float32 on CPU).
TOLERANCE = 1e-4


#: The released width (channels min(32768 // res, 512)) and the narrow one the fast tests build
#: (the machine is shared: a full-width 256 forward takes 10+ s here); the graph is the same.
FULL, NARROW = (32768, 512), (1024, 16)


def official_keys(resolution: int, width: tuple[int, int] = FULL) -> dict[str, tuple[int, ...]]:
    """state_dict of migan_inference.Generator(resolution): every conv is depthwise 3x3 (+bias)
    then pointwise 1x1; resamplers are depthwise 4x4 filters; noise only above 4x4."""
    keys: dict[str, tuple[int, ...]] = {}

    def ch(res: int) -> int:
        return min(width[0] // res, width[1])

    def separable(prefix: str, cin: int, cout: int, res: int = 0, down=False, up=False, noise=False) -> None:
        keys.update({f"{prefix}.conv1.weight": (cin, 1, 3, 3), f"{prefix}.conv1.bias": (cin,),
                     f"{prefix}.conv2.weight": (cout, cin, 1, 1)})
        if down:
            keys[f"{prefix}.downsample.filter.weight"] = (cin, 1, 4, 4)
        if up:
            keys.update({f"{prefix}.upsample.filter_const": (1, 1, res, res), f"{prefix}.upsample.filter.weight": (cout, 1, 4, 4)})
        if noise:
            keys.update({f"{prefix}.noise_const": (res, res), f"{prefix}.noise_strength": ()})

    levels = [2**i for i in range(int(np.log2(resolution)), 2, -1)]
    for index, res in enumerate(levels):
        if index == 0:
            keys.update({f"encoder.b{res}.fromrgb.weight": (ch(res), 4, 1, 1), f"encoder.b{res}.fromrgb.bias": (ch(res),)})
        separable(f"encoder.b{res}.conv1", ch(res), ch(res))
        separable(f"encoder.b{res}.conv2", ch(res), ch(res // 2), down=True)
    separable("encoder.b4.conv1", ch(4), ch(4))
    separable("encoder.b4.conv2", ch(4), ch(4))
    separable("synthesis.b4.conv1", ch(4), ch(4))
    separable("synthesis.b4.conv2", ch(4), ch(4))
    keys.update({"synthesis.b4.torgb.weight": (3, ch(4), 1, 1), "synthesis.b4.torgb.bias": (3,)})
    for res in reversed(levels):
        separable(f"synthesis.b{res}.conv1", ch(res // 2), ch(res), res, up=True, noise=True)
        separable(f"synthesis.b{res}.conv2", ch(res), ch(res), res, noise=True)
        keys.update({f"synthesis.b{res}.torgb.weight": (3, ch(res), 1, 1), f"synthesis.b{res}.torgb.bias": (3,),
                     f"synthesis.b{res}.upsample.filter_const": (1, 1, res, res),
                     f"synthesis.b{res}.upsample.filter.weight": (3, 1, 4, 4)})
    return keys


def binomial(gain: float) -> torch.Tensor:
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return torch.outer(taps, taps) / 64 * gain


def random_released_state(resolution: int, width: tuple[int, int] = FULL, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights at a usable scale, with the fixed filters and zero-insertion masks as exported."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_keys(resolution, width).items():
        if key.endswith("filter_const"):
            state[key] = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).repeat(1, 1, shape[-1] // 2, shape[-1] // 2)
        elif key.endswith("filter.weight"):
            state[key] = binomial(4.0 if "upsample" in key else 1.0).expand(shape).clone()
        elif len(shape) == 4:
            gain = 0.1 if "torgb" in key else 1.0  # keeps the summed RGB inside (-1, 1) mostly
            state[key] = torch.randn(shape, generator=generator) * (gain / torch.Size(shape[1:]).numel()) ** 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * (1.0 if "noise_const" in key else 0.1)
    return state


# --- the official path, re-stated ---

def act(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(F.leaky_relu(x, 0.2) * np.sqrt(2), -256, 256)


def ref_upsample(s: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    x = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3) * s[f"{prefix}.filter_const"]
    return F.conv2d(F.pad(x, [2, 1, 2, 1]), s[f"{prefix}.filter.weight"], groups=x.shape[1])


def ref_separable(s: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    x = act(F.conv2d(x, s[f"{prefix}.conv1.weight"], s[f"{prefix}.conv1.bias"], padding=1, groups=x.shape[1]))
    if f"{prefix}.downsample.filter.weight" in s:
        x = F.conv2d(x, s[f"{prefix}.downsample.filter.weight"], stride=2, padding=1, groups=x.shape[1])
    x = F.conv2d(x, s[f"{prefix}.conv2.weight"])
    if f"{prefix}.upsample.filter_const" in s:
        x = ref_upsample(s, f"{prefix}.upsample", x)
    if f"{prefix}.noise_const" in s:
        x = x + s[f"{prefix}.noise_const"] * s[f"{prefix}.noise_strength"]
    return act(x)


def official_generator(s: dict, x: torch.Tensor, resolution: int) -> torch.Tensor:
    img, feats, h = x, {}, None
    for res in [2**i for i in range(int(np.log2(resolution)), 1, -1)]:
        p = f"encoder.b{res}"
        if f"{p}.fromrgb.weight" in s:
            h = act(F.conv2d(img, s[f"{p}.fromrgb.weight"], s[f"{p}.fromrgb.bias"]))
        feats[res] = ref_separable(s, f"{p}.conv1", h)
        h = ref_separable(s, f"{p}.conv2", feats[res])
    h = ref_separable(s, "synthesis.b4.conv2", ref_separable(s, "synthesis.b4.conv1", h) + feats[4])
    rgb = F.conv2d(h, s["synthesis.b4.torgb.weight"], s["synthesis.b4.torgb.bias"])
    for res in [2**i for i in range(3, int(np.log2(resolution)) + 1)]:
        p = f"synthesis.b{res}"
        h = ref_separable(s, f"{p}.conv2", ref_separable(s, f"{p}.conv1", h) + feats[res])
        rgb = ref_upsample(s, f"{p}.upsample", rgb) + F.conv2d(h, s[f"{p}.torgb.weight"], s[f"{p}.torgb.bias"])
    return rgb


def official_evaluation(generator, image_u8: np.ndarray, mask_u8: np.ndarray) -> torch.Tensor:
    """InferenceDataset + the evaluation loop: uint8 HWC image, uint8 HW mask (255 = known) -> composite in [0,1]."""
    img = torch.Tensor(image_u8).float() * 2 / 255 - 1
    mask = torch.Tensor(mask_u8[:, :, None] // 255).float()
    img, mask = img.permute(2, 0, 1)[None], mask.permute(2, 0, 1)[None]
    x = torch.cat([mask - 0.5, img * mask], dim=1)
    with torch.no_grad():
        out = generator(x)
    return ((mask * img + (1 - mask) * out) * 0.5 + 0.5).clamp(0, 1)


def sample(resolution: int, seed: int, count: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random uint8 images and free-form-ish masks (several rectangles; 255 = known)."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, size=(count, 3, 8, 8)).astype(np.float32)
    images = F.interpolate(torch.from_numpy(low), size=resolution, mode="bicubic", align_corners=False)
    images = images.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    masks = np.full((count, resolution, resolution), 255, np.uint8)
    for mask in masks:
        for _ in range(4):
            y, x = rng.integers(0, resolution * 3 // 4, size=2)
            h, w = rng.integers(resolution // 16, resolution // 3, size=2)
            mask[y : y + h, x : x + w] = rng.choice([0, 128])  # anything below 255 is a hole
    return images, masks


def harness_inputs(images_u8: np.ndarray, masks_u8: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(images_u8).permute(0, 3, 1, 2).float() / 255
    holes = torch.from_numpy(masks_u8 < 255).float()[:, None]
    return images * (1 - holes), holes


def hole_difference(prediction: torch.Tensor, reference: torch.Tensor, holes: torch.Tensor) -> float:
    return ((prediction - reference).abs() * holes).max().item()


@pytest.fixture(scope="module")
def narrow() -> None:
    """Build every MI-GAN of this module at the narrow width."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("baselines.migan_networks.CH_BASE", NARROW[0])
        patch.setattr("baselines.migan_networks.CH_MAX", NARROW[1])
        yield


@pytest.fixture(scope="module", params=[256, 512])
def released(request, narrow, tmp_path_factory) -> tuple[int, dict, object]:
    resolution = request.param
    state = random_released_state(resolution, NARROW)
    path = tmp_path_factory.mktemp("migan") / f"migan_{resolution}_places2.pt"
    torch.save(state, path)
    return resolution, state, path


def test_keys_match_the_published_counts():
    assert (len(official_keys(256)), len(official_keys(512))) == (154, 177)
    params = sum(torch.Size(s).numel() for k, s in official_keys(256).items() if "_const" not in k)
    assert round(params / 1e6, 2) == 5.94


def check_official_evaluation_path(resolution: int, state: dict, path) -> float:
    predictor = load_predictor("migan", checkpoint=str(path), device="cpu")
    assert predictor.size == SizeSpec(native=resolution) and predictor.config()["resolution"] == resolution
    images_u8, masks_u8 = sample(resolution, seed=resolution)
    reference = official_evaluation(lambda x: official_generator(state, x, resolution), images_u8[0], masks_u8[0])
    images, holes = harness_inputs(images_u8, masks_u8)
    prediction = predictor.predict(images, holes)
    inside = reference[holes.expand_as(reference) > 0]
    assert 0.2 < ((inside > 0) & (inside < 1)).float().mean()  # outputs are not saturated: the check can fail
    difference = hole_difference(prediction, reference, holes)
    assert difference <= TOLERANCE
    composite = prediction * holes + images * (1 - holes)
    assert (composite - reference).abs().max() <= TOLERANCE
    return difference


def test_official_evaluation_path_in_the_holes(released):
    check_official_evaluation_path(*released)


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [256, 512])
def test_official_evaluation_path_at_the_released_width(resolution, tmp_path, monkeypatch):
    monkeypatch.setattr("baselines.migan_networks.CH_BASE", FULL[0])
    monkeypatch.setattr("baselines.migan_networks.CH_MAX", FULL[1])
    state = random_released_state(resolution)
    torch.save(state, tmp_path / "migan.pt")
    print(f"MI-GAN {resolution}: max |difference| in the holes", check_official_evaluation_path(resolution, state, tmp_path / "migan.pt"))


class Spy(torch.nn.Module):
    resolution = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.clone()
        return x[:, 1:] * 3  # outside [-1, 1] where the input is far from 0: exercises the clamp


def test_input_is_known_minus_half_and_the_image_times_known():
    images = torch.rand(2, 3, 16, 16)
    masks = torch.zeros(2, 1, 16, 16)
    masks[0, :, 2:9, 4:12] = 1
    masks[1, :, 5:, :7] = 0.3  # a partial hole (resized mask) is a hole: only mask == 0 is known
    spy = Spy()
    out = MIGANPredictor(spy).predict(images * (1 - (masks > 0).float()), masks)
    known = (masks == 0).float()
    assert torch.equal(spy.seen[:, :1], known - 0.5)
    assert torch.equal(spy.seen[:, 1:], (images * (1 - (masks > 0).float()) * 2 - 1) * known)
    assert (spy.seen[:, 1:][known.expand(-1, 3, -1, -1) == 0] == 0).all()  # holes are 0, not -1
    torch.testing.assert_close(out, (spy.seen[:, 1:] * 3 * 0.5 + 0.5).clamp(0, 1), rtol=0, atol=0)
    with pytest.raises(ValueError, match="16x16"):
        MIGANPredictor(spy).predict(torch.rand(1, 3, 8, 8), torch.zeros(1, 1, 8, 8))


def test_network_input_without_the_product_would_differ():
    """The multiply-after-mapping step is what keeps holes at 0 in [-1, 1] space."""
    images, holes = torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4)
    assert torch.equal(network_input(images, holes)[:, 1:], torch.zeros(1, 3, 4, 4))


def test_batch_invariance_and_determinism(released):
    resolution, _, path = released
    if resolution != 256:
        pytest.skip("one resolution suffices: the graph is the same")
    predictor = load_predictor("migan", checkpoint=str(path), device="cpu")
    images, holes = harness_inputs(*sample(resolution, seed=7, count=2))
    batch = predictor.predict(images, holes)
    singles = torch.cat([predictor.predict(images[i : i + 1], holes[i : i + 1]) for i in range(2)])
    assert (batch - singles).abs().max() <= 1e-5  # measured 8.3e-7 at the released width (conv algorithms differ by batch size)
    assert torch.equal(predictor.predict(images[1:], holes[1:]), singles[1:])


def test_a_512_model_on_a_256_protocol_is_resized_visibly(released):
    resolution, _, path = released
    if resolution != 512:
        pytest.skip("the 512 model is the one a 256 protocol must adapt")
    predictor = load_predictor("migan", checkpoint=str(path), device="cpu")
    fit = plan_fit(predictor.size, 256, 256)
    assert fit.resize_to == 512 and fit.input_size == (512, 512)
    images, holes = harness_inputs(*sample(256, seed=3))
    out = predict_batch(predictor, images, holes).outputs
    assert out.shape == (1, 3, 256, 256)
    assert predictor.identity()["size"] == [512, False, 1]  # the size rule is part of the fingerprint


def test_wrong_keys_are_a_one_line_error(tmp_path, released):
    resolution, state, _ = released
    broken = dict(state)
    broken["synthesis.b8.conv1.extra"] = broken.pop("synthesis.b8.conv1.noise_strength")
    path = tmp_path / "broken.pt"
    torch.save(broken, path)
    with pytest.raises(CheckpointError) as error:
        load_predictor("migan", checkpoint=str(path))
    assert "\n" not in str(error.value) and "synthesis.b8.conv1.noise_strength" in str(error.value)
    with pytest.raises(CheckpointError, match="resolution"):
        load_predictor("migan", checkpoint=str(tmp_path / "broken.pt"), resolution=128 if resolution == 256 else 256)


def test_missing_weights_name_the_official_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError) as error:
        load_predictor("migan", resolution=512)
    message = str(error.value)
    assert MIGAN_DRIVE in message and "migan_512_places2.pt" in message and str(tmp_path / "migan") in message


def test_released_file_is_found_in_the_weights_folder(tmp_path, monkeypatch, released):
    resolution, _, path = released
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path))
    (tmp_path / "migan").mkdir()
    (tmp_path / "migan" / path.name).write_bytes(path.read_bytes())
    predictor = load_predictor("migan", resolution=resolution)
    assert predictor.weight_files == (tmp_path / "migan" / path.name,)
