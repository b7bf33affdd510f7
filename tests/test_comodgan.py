"""Co-Mod-GAN through MI-GAN's port: the released state-dict format loads strictly; under the harness's
seeding rule a prediction equals the port's forward (lib/model_zoo/comodgan.py + stylegan.py, with
StyleGAN2-ADA's reference resampling) in MI-GAN's evaluation path, re-stated here as functions
over the state dict, at both released resolutions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.comodgan import CoModGANPredictor
from baselines.migan import network_input
from harness.checkpoints import CheckpointError, MissingWeightsError
from harness.predictor import SizeSpec
from harness.registry import load_predictor
from tests.test_migan import (FULL, NARROW, TOLERANCE, act, binomial, harness_inputs, hole_difference,
                              official_evaluation, sample)

COMODGAN_DRIVE = "1VATyNQQJW2VpuHND02bc-3_4ukJMHQ44"
STYLE = 512 + 1024  # w, then the encoder's global code


def official_keys(resolution: int, width: tuple[int, int] = FULL) -> dict[str, tuple[int, ...]]:
    """state_dict of Generator(Mapping(num_ws), Encoder(resolution=R), Synthesis(resolution=R)) with every default."""

    def ch(res: int) -> int:
        return min(width[0] // res, width[1])

    keys: dict[str, tuple[int, ...]] = {"mapping.w_avg": (512,)}
    for i in range(8):
        keys.update({f"mapping.fc{i}.weight": (512, 512), f"mapping.fc{i}.bias": (512,)})

    def layer(prefix: str, cin: int, cout: int, res: int, filtered: bool) -> None:
        keys.update({f"{prefix}.weight": (cout, cin, 3, 3), f"{prefix}.bias": (cout,), f"{prefix}.noise_strength": (),
                     f"{prefix}.noise_const": (res, res), f"{prefix}.affine.weight": (cin, STYLE),
                     f"{prefix}.affine.bias": (cin,)})
        if filtered:
            keys[f"{prefix}.resample_filter"] = (4, 4)

    def torgb(prefix: str, cin: int) -> None:
        keys.update({f"{prefix}.weight": (3, cin, 1, 1), f"{prefix}.bias": (3,), f"{prefix}.affine.weight": (cin, STYLE),
                     f"{prefix}.affine.bias": (cin,)})

    keys.update({"synthesis.b4.fc.weight": (ch(4) * 16, 1024), "synthesis.b4.fc.bias": (ch(4) * 16,)})
    layer("synthesis.b4.conv", ch(4), ch(4), 4, True)
    torgb("synthesis.b4.torgb", ch(4))
    for res in [2**i for i in range(3, int(np.log2(resolution)) + 1)]:
        keys[f"synthesis.b{res}.resample_filter"] = (4, 4)
        layer(f"synthesis.b{res}.conv0", ch(res // 2), ch(res), res, True)
        layer(f"synthesis.b{res}.conv1", ch(res), ch(res), res, False)
        torgb(f"synthesis.b{res}.torgb", ch(res))
    for index, res in enumerate(2**i for i in range(int(np.log2(resolution)), 2, -1)):
        p = f"encoder.b{res}"
        keys[f"{p}.resample_filter"] = (4, 4)
        if index == 0:
            keys.update({f"{p}.fromrgb.weight": (ch(res), 4, 1, 1), f"{p}.fromrgb.bias": (ch(res),)})
        keys.update({f"{p}.conv0.weight": (ch(res), ch(res), 3, 3), f"{p}.conv0.bias": (ch(res),),
                     f"{p}.conv1.weight": (ch(res // 2), ch(res), 3, 3), f"{p}.conv1.bias": (ch(res // 2),),
                     f"{p}.conv1.resample_filter": (4, 4)})
    keys.update({"encoder.b4.conv.weight": (ch(4), ch(4), 3, 3), "encoder.b4.conv.bias": (ch(4),),
                 "encoder.b4.fc.weight": (1024, ch(4) * 16), "encoder.b4.fc.bias": (1024,)})
    return keys


def random_released_state(resolution: int, width: tuple[int, int] = FULL, seed: int = 0) -> dict[str, torch.Tensor]:
    """The port's own initialisation (unit-normal weights under equalised learning rates), with
    small biases, non-zero noise strengths and a small toRGB so that outputs stay mostly in (-1, 1)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in official_keys(resolution, width).items():
        noise = torch.randn(shape, generator=generator)
        if key.endswith("resample_filter"):
            state[key] = binomial(1.0)
        elif key.startswith("mapping.fc") and key.endswith("weight"):
            state[key] = noise * 100  # lr multiplier 0.01
        elif key.endswith("affine.bias"):
            state[key] = 1 + 0.1 * noise
        elif "torgb.weight" in key:
            state[key] = noise * 0.05
        elif key.endswith(("bias", "w_avg")):
            state[key] = noise * 0.1
        elif key.endswith("noise_strength"):
            state[key] = noise * 0.3
        else:
            state[key] = noise
    return state


# --- the port's forward, re-stated for one item ---

def dense(s: dict, p: str, x: torch.Tensor, lr: float = 1.0, activation: bool = False) -> torch.Tensor:
    w = s[f"{p}.weight"]
    y = x @ (w * (lr / np.sqrt(w.shape[1]))).t() + s[f"{p}.bias"] * lr
    return act(y) if activation else y


def upfirdn(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """upfirdn2d's reference: zero-insert, pad, convolve (flipped kernel) with f * gain."""
    if up > 1:
        spread = x.new_zeros(*x.shape[:2], x.shape[2] * up, x.shape[3] * up)
        spread[:, :, ::up, ::up] = x
        x = spread
    kernel = (f * gain).flip([0, 1])[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, list(pad)), kernel, groups=x.shape[1])


def conv_layer(s: dict, p: str, x: torch.Tensor, down: bool = False) -> torch.Tensor:
    w = s[f"{p}.weight"]
    w = w / np.sqrt(w[0].numel())
    if down:
        x = F.conv2d(upfirdn(x, s[f"{p}.resample_filter"], pad=(2, 2, 2, 2)), w, stride=2)
    else:
        x = F.conv2d(x, w, padding=w.shape[-1] // 2)
    return act(x + s[f"{p}.bias"].view(1, -1, 1, 1))


def modulated(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
              up_filter: torch.Tensor | None = None) -> torch.Tensor:
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight * styles.reshape(1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum([1, 2, 3], keepdim=True) + 1e-8).rsqrt()
    if up_filter is not None:  # conv2d_resample's generic order: upsample and filter, then convolve (flipped weight)
        return F.conv2d(upfirdn(x, up_filter, up=2, pad=(3, 2, 3, 2), gain=4), w.flip([2, 3]))
    return F.conv2d(x, w, padding=w.shape[-1] // 2)


def synthesis_layer(s: dict, p: str, x: torch.Tensor, style: torch.Tensor, noise_mode: str, up: bool = False):
    res = s[f"{p}.noise_const"].shape[0]
    noise = None
    if noise_mode == "random":
        noise = torch.randn([1, 1, res, res]) * s[f"{p}.noise_strength"]
    if noise_mode == "const":
        noise = s[f"{p}.noise_const"] * s[f"{p}.noise_strength"]
    x = modulated(x, s[f"{p}.weight"], dense(s, f"{p}.affine", style), True, s[f"{p}.resample_filter"] if up else None)
    if noise is not None:
        x = x + noise
    return act(x + s[f"{p}.bias"].view(1, -1, 1, 1))


def torgb(s: dict, p: str, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    w = s[f"{p}.weight"]
    return modulated(x, w, dense(s, f"{p}.affine", style) / np.sqrt(w.shape[1]), False) + s[f"{p}.bias"].view(1, -1, 1, 1)


def official_port(s: dict, x: torch.Tensor, resolution: int, noise_mode: str = "random") -> torch.Tensor:
    """Generator.forward(x) with z=None for one item: z, mapping, encoder, synthesis (noise in layer order)."""
    z = torch.randn([1, 512])
    w = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
    for i in range(8):
        w = dense(s, f"mapping.fc{i}", w, lr=0.01, activation=True)
    ws = w.unsqueeze(1).repeat(1, {256: 14, 512: 16}[resolution], 1)
    h, feats = None, {}
    for res in [2**i for i in range(int(np.log2(resolution)), 2, -1)]:
        p = f"encoder.b{res}"
        if f"{p}.fromrgb.weight" in s:
            h = conv_layer(s, f"{p}.fromrgb", x)
        feats[res] = conv_layer(s, f"{p}.conv0", h)
        h = conv_layer(s, f"{p}.conv1", feats[res], down=True)
    feats[4] = conv_layer(s, "encoder.b4.conv", h)
    code = dense(s, "encoder.b4.fc", feats[4].flatten(1), activation=True)  # dropout: identity in eval()
    h = dense(s, "synthesis.b4.fc", code, activation=True).view(1, -1, 4, 4) + feats[4]
    h = synthesis_layer(s, "synthesis.b4.conv", h, torch.cat([ws[:, 0], code], 1), noise_mode)
    img = torgb(s, "synthesis.b4.torgb", h, torch.cat([ws[:, 1], code], 1))
    for index, res in enumerate(2**i for i in range(3, int(np.log2(resolution)) + 1)):
        p, first = f"synthesis.b{res}", 1 + 2 * index  # each block reads 3 ws from here, then advances by 2
        h = synthesis_layer(s, f"{p}.conv0", h, torch.cat([ws[:, first], code], 1), noise_mode, up=True) + feats[res]
        h = synthesis_layer(s, f"{p}.conv1", h, torch.cat([ws[:, first + 1], code], 1), noise_mode)
        img = upfirdn(img, s[f"{p}.resample_filter"], up=2, pad=(2, 1, 2, 1), gain=4) + torgb(
            s, f"{p}.torgb", h, torch.cat([ws[:, first + 2], code], 1))
    return img


def seeded(state: dict, resolution: int, seed: int, noise_mode: str):
    """The harness's rule: torch.manual_seed(seed) right before each one-item forward."""

    def generator(x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(seed)
        return official_port(state, x, resolution, noise_mode)

    return generator


@pytest.fixture(scope="module")
def narrow() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("baselines.comodgan_networks.CH_BASE", NARROW[0])
        patch.setattr("baselines.comodgan_networks.CH_MAX", NARROW[1])
        yield


@pytest.fixture(scope="module", params=[256, 512])
def released(request, narrow, tmp_path_factory) -> tuple[int, dict, object]:
    resolution = request.param
    state = random_released_state(resolution, NARROW)
    path = tmp_path_factory.mktemp("comodgan") / f"comodgan_{resolution}_places2.pt"
    torch.save(state, path)
    return resolution, state, path


def test_keys_match_the_published_counts():
    assert (len(official_keys(256)), len(official_keys(512))) == (180, 204)
    params = sum(torch.Size(s).numel() for k, s in official_keys(256).items()
                 if not k.endswith(("_const", "resample_filter", "w_avg")))
    assert round(params / 1e6, 2) == 79.18


def check_official_path(resolution: int, state: dict, path, items: int = 2, **options) -> float:
    """Every item of a batch equals the port's forward on that item alone after torch.manual_seed(seed)."""
    predictor = load_predictor("comodgan", checkpoint=str(path), device="cpu", **options)
    seed, noise_mode = options.get("seed", 0), options.get("noise_mode", "random")
    images_u8, masks_u8 = sample(resolution, seed=resolution, count=items)
    images, holes = harness_inputs(images_u8, masks_u8)
    prediction = predictor.predict(images, holes)
    reference = torch.cat([official_evaluation(seeded(state, resolution, seed, noise_mode), image, mask)
                           for image, mask in zip(images_u8, masks_u8)])
    inside = reference[holes.expand_as(reference) > 0]
    assert 0.2 < ((inside > 0) & (inside < 1)).float().mean()  # not saturated: the comparison can fail
    difference = hole_difference(prediction, reference, holes)
    assert difference <= TOLERANCE
    return difference


def test_official_port_path_in_the_holes(released):
    resolution, state, path = released
    check_official_path(resolution, state, path, items=2 if resolution == 256 else 1)


def test_official_port_path_with_other_options(released):
    resolution, state, path = released
    if resolution != 256:
        pytest.skip("one resolution suffices for the options")
    check_official_path(resolution, state, path, items=1, seed=11, noise_mode="const")
    check_official_path(resolution, state, path, items=1, seed=5, noise_mode="none")


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [256, 512])
def test_official_port_path_at_the_released_width(resolution, tmp_path, monkeypatch):
    monkeypatch.setattr("baselines.comodgan_networks.CH_BASE", FULL[0])
    monkeypatch.setattr("baselines.comodgan_networks.CH_MAX", FULL[1])
    state = random_released_state(resolution)
    torch.save(state, tmp_path / "comodgan.pt")
    difference = check_official_path(resolution, state, tmp_path / "comodgan.pt", items=1)
    print(f"Co-Mod-GAN {resolution}: max |difference| in the holes", difference)


@pytest.fixture(scope="module")
def loaded(released) -> tuple[int, dict, CoModGANPredictor]:
    resolution, state, path = released
    if resolution != 256:
        pytest.skip("the seeding rule is checked at one resolution")
    return resolution, state, load_predictor("comodgan", checkpoint=str(path), device="cpu")


def test_seeding_makes_items_independent_and_leaves_the_callers_random_state(loaded):
    resolution, state, predictor = loaded
    images, holes = harness_inputs(*sample(resolution, seed=3, count=2))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    batch = predictor.predict(images, holes)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(predictor.predict(images[1:], holes[1:]), batch[1:])  # position and companions do not matter
    assert torch.equal(predictor.predict(images[:1], holes[:1]), batch[:1])
    # The port itself couples a batch (styles normalised over it; z and noise drawn per batch).
    x = network_input(images, holes)
    with torch.no_grad():
        torch.manual_seed(0)
        together = predictor.module(x)
        torch.manual_seed(0)
        alone = predictor.module(x[:1])
    assert (together[:1] - alone).abs().max() > 1e-3


def test_the_seed_and_noise_mode_change_the_output_and_the_fingerprint(released, loaded):
    resolution, _, path = released
    _, _, predictor = loaded
    images, holes = harness_inputs(*sample(resolution, seed=4))
    other = load_predictor("comodgan", checkpoint=str(path), device="cpu", seed=1)
    const = load_predictor("comodgan", checkpoint=str(path), device="cpu", noise_mode="const")
    outputs = [p.predict(images, holes) for p in (predictor, other, const)]
    assert (outputs[0] - outputs[1]).abs().max() > 1e-3 and (outputs[0] - outputs[2]).abs().max() > 1e-3
    assert len({p.fingerprint() for p in (predictor, other, const)}) == 3
    assert (predictor.config()["seed"], predictor.config()["noise_mode"]) == (0, "random")
    assert predictor.size == SizeSpec(native=resolution) and not predictor.module.training
    with pytest.raises(ValueError, match="noise_mode"):
        load_predictor("comodgan", checkpoint=str(path), noise_mode="fixed")


def test_wrong_keys_are_a_one_line_error(tmp_path, released):
    _, state, _ = released
    broken = {k: v for k, v in state.items() if k != "mapping.w_avg"}
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError) as error:
        load_predictor("comodgan", checkpoint=str(tmp_path / "broken.pt"))
    assert "\n" not in str(error.value) and "mapping.w_avg" in str(error.value)


def test_missing_weights_name_the_official_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError) as error:
        load_predictor("comodgan", dataset="ffhq")
    assert COMODGAN_DRIVE in str(error.value) and "comodgan_256_ffhq.pt" in str(error.value)


@pytest.mark.slow
def test_run_migan_and_comodgan_end_to_end_at_another_size(tmp_path, capsys, monkeypatch):
    """`harness run` at 64x64: both 256 models are fed through the harness's resize (SizeSpec(native=256))."""
    from harness.cli import main
    from tests import test_migan

    for module in ("migan", "comodgan"):  # released widths, whatever a module-scoped fixture narrowed
        monkeypatch.setattr(f"baselines.{module}_networks.CH_BASE", FULL[0])
        monkeypatch.setattr(f"baselines.{module}_networks.CH_MAX", FULL[1])

    torch.save(test_migan.random_released_state(256), tmp_path / "migan_256_places2.pt")
    torch.save(random_released_state(256), tmp_path / "comodgan_256_places2.pt")
    args = ["run", "--methods", "migan,comodgan", f"--checkpoint=migan={tmp_path / 'migan_256_places2.pt'}",
            f"--checkpoint=comodgan={tmp_path / 'comodgan_256_places2.pt'}", "--limit", "1", "--size", "64",
            "--out", str(tmp_path / "runs"), "--no-progress", "--no-lpips"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| migan≈" in out and "| comodgan≈" in out and "failed item" not in out  # both resized from 256, marked
