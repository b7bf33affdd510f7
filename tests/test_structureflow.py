"""StructureFlow: strict loading of the official raw state_dicts, the resample2d warp against a
literal transcription of the CUDA kernel, the test path's inputs, the structure override,
batch independence, missing weights and an end-to-end run.

The expected state_dict layouts are written out from the published architecture
(RenYurui/StructureFlow ``src/network.py`` with the ``src/models.py`` settings; docs/baselines.md
§4), not read from our module.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from baselines.structureflow import normalise, rtv_structure
from baselines.structureflow_networks import LayerNorm, StructureFlow, resample2d
from harness.engine.adapt import plan_fit
from harness.checkpoints import CheckpointError, MissingWeightsError
from harness.cli import main
from harness.registry import load_predictor

FILES = ("latest_net_s_gen.pth", "latest_net_f_gen.pth")


def s_gen_layout() -> dict[str, tuple[tuple[int, ...], bool]]:
    """conv prefix -> (weight shape, spectral norm?) of StructureGen(dim 64, n_res 4); all convs have a bias."""
    layers = {"input_layer.conv": ((64, 7, 7, 7), True)}
    for name, cin, cout, k in (("down_sample.0.0", 64, 128, 4), ("down_sample.0.1", 128, 128, 5),
                               ("down_sample.1.0", 128, 256, 4), ("down_sample.1.1", 256, 256, 5),
                               ("down_sample.2.0", 256, 512, 4)):
        layers[f"{name}.conv"] = ((cout, cin, k, k), True)
    for level, dim in enumerate((512, 256, 128)):
        for block in range(4):  # ResBlocks: no spectral norm (upstream default use_sn=False)
            for conv in range(2):
                layers[f"up_sample.{level}.0.model.{block}.model.{conv}.conv"] = ((dim, dim, 3, 3), False)
        layers[f"up_sample.{level}.2.conv"] = ((dim // 2, dim, 5, 5), True)
        layers[f"content_param.{level}.conv"] = ((dim // 2, dim // 2, 5, 5), False)
    layers["image_net.conv.conv"] = ((3, 64, 3, 3), False)
    return layers


def f_gen_layout() -> dict[str, tuple[tuple[int, ...], int | None]]:
    """conv prefix -> (weight shape, LayerNorm channels or None) of FlowGen; ``location.1`` has no bias."""
    layers: dict[str, tuple[tuple[int, ...], int | None]] = {}

    def convs(prefix: str, specs, ln: bool) -> None:
        for name, cin, cout, k in specs:
            layers[f"{prefix}.{name}"] = ((cout, cin, k, k), cout if ln else None)

    def resblocks(prefix: str, dim: int, ln: bool) -> None:
        convs(prefix, [(f"model.{b}.model.{c}.conv", dim, dim, 3) for b in range(2) for c in range(2)], ln)

    flow = "flow_column"
    convs(flow, [("down_sample_flow.0.0.conv", 7, 32, 7), ("down_sample_flow.0.1.conv", 32, 64, 4),
                 ("down_sample_flow.0.2.conv", 64, 64, 5), ("down_sample_flow.1.0.conv", 64, 128, 4),
                 ("down_sample_flow.1.1.conv", 128, 128, 5), ("down_sample_flow.2.0.conv", 128, 256, 4),
                 ("down_sample_flow.2.1.conv", 256, 256, 5), ("down_sample_flow.3.0.conv", 256, 512, 4),
                 ("down_sample_flow.3.1.conv", 512, 512, 5)], False)
    resblocks(f"{flow}.up_sample_flow.0.0", 512, False)
    layers[f"{flow}.up_sample_flow.0.1.transConv"] = ((512, 256, 6, 6), None)  # (in, out, k, k)
    convs(flow, [("up_sample_flow.1.0.conv", 512, 256, 5)], False)
    resblocks(f"{flow}.up_sample_flow.1.1", 256, False)
    layers[f"{flow}.up_sample_flow.1.2.transConv"] = ((256, 128, 6, 6), None)
    convs(flow, [("location.0.conv", 256, 64, 5), ("location.1.conv", 64, 2, 3)], False)
    conv = "conv_column"
    convs(conv, [("down_sample.0.0", 7, 32, 7), ("down_sample.0.1", 32, 64, 4), ("down_sample.0.2", 64, 64, 5),
                 ("down_sample.0.3", 64, 128, 4), ("down_sample.0.4", 128, 128, 5), ("down_sample.1.0", 128, 256, 5),
                 ("down_sample.1.1", 256, 512, 4)], True)
    resblocks(f"{conv}.up_sample.0.0", 512, True)
    convs(conv, [("up_sample.0.2", 512, 256, 5), ("up_sample.1.0", 512, 256, 5)], True)
    resblocks(f"{conv}.up_sample.1.1", 256, True)
    convs(conv, [("up_sample.1.3", 256, 128, 5)], True)
    resblocks(f"{conv}.up_sample.1.4", 128, True)
    convs(conv, [("up_sample.1.6", 128, 64, 5)], True)
    layers[f"{conv}.up_sample.1.7.conv.conv"] = ((3, 64, 3, 3), None)
    # Conv2dBlock keys: <block>.conv.{weight,bias} and <block>.norm.{weight,bias}
    return {(k if k.endswith((".conv", ".transConv")) else f"{k}.conv"): v for k, v in layers.items()}


def random_s_gen(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, (shape, sn) in s_gen_layout().items():
        weight = torch.randn(shape, generator=gen) * (1 / math.prod(shape[1:])) ** 0.5
        if sn:  # u, v consistent with a power iteration, spectral norm restores the scale
            weight = weight * 8
            u = F.normalize(torch.randn(shape[0], generator=gen), dim=0)
            v = F.normalize(weight.reshape(shape[0], -1).t() @ u, dim=0)
            state.update({f"{name}.weight_orig": weight, f"{name}.weight_u": u, f"{name}.weight_v": v})
        else:
            state[f"{name}.weight"] = weight
        state[f"{name}.bias"] = torch.randn(shape[0], generator=gen) * 0.02
    return state


def random_f_gen(seed: int = 1) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, (shape, ln) in f_gen_layout().items():
        fan_in = shape[0] * 9 if name.endswith("transConv") else math.prod(shape[1:])
        state[f"{name}.weight"] = torch.randn(shape, generator=gen) * (2 / fan_in) ** 0.5
        if not name.endswith("location.1.conv"):
            state[f"{name}.bias"] = torch.randn(shape[1] if name.endswith("transConv") else shape[0], generator=gen) * 0.02
        if ln:
            block = name.removesuffix(".conv")
            state[f"{block}.norm.weight"] = 1 + 0.1 * torch.randn(ln, 1, 1, generator=gen)
            state[f"{block}.norm.bias"] = 0.1 * torch.randn(ln, 1, 1, generator=gen)
    return state


def _millions(state: dict[str, torch.Tensor]) -> float:
    return round(sum(v.numel() for k, v in state.items() if not k.endswith(("_u", "_v"))) / 1e6, 2)


def write_official_files(folder) -> None:
    """Raw state_dicts under the official names, with the discriminator file beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(random_s_gen(), folder / FILES[0])
    torch.save(random_f_gen(), folder / FILES[1])
    torch.save({"model_1.model.0.conv.weight_orig": torch.zeros(1)}, folder / "latest_net_f_dis.pth")


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    s_state, f_state = random_s_gen(), random_f_gen()
    # published sizes: 92 tensors / 36.06 M parameters and 137 / 56.47 M
    assert (len(s_state), _millions(s_state), len(f_state), _millions(f_state)) == (92, 36.06, 137, 56.47)
    assert sum(k.endswith("weight_orig") for k in s_state) == 9
    assert sum(k.endswith("norm.weight") for k in f_state) == 23
    folder = tmp_path_factory.mktemp("structureflow")
    write_official_files(folder)
    return folder


@pytest.fixture(scope="module")
def predictor(checkpoint_dir):
    return load_predictor("structureflow", checkpoint=str(checkpoint_dir), device="cpu")


def _sample(size: int = 48, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bars of colour with a textured patch; a hole across them."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    truth = torch.stack((xx, (yy > 0.5).float() * 0.8, 0.5 + 0.4 * torch.sin(20 * xx) * (yy < 0.4)))[None]
    truth = (torch.round(truth.clamp(0, 1) * 255) / 255).repeat(batch, 1, 1, 1)
    truth[1:] = truth[1:].flip(-1)
    masks = torch.zeros(batch, 1, size, size)
    masks[..., size // 3 : size // 2, size // 4 : 3 * size // 4] = 1
    return truth * (1 - masks), masks, truth


def _literal_resample(features: torch.Tensor, flow: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """``kernel_resample2d_update_output`` transcribed loop for loop (dilation 1), in float64."""
    b_, c_, ih, iw = features.shape
    out = torch.zeros(b_, c_, *flow.shape[-2:], dtype=torch.float64)
    for b in range(b_):
        for c in range(c_):
            for y in range(flow.shape[2]):
                for x in range(flow.shape[3]):
                    xf, yf = x + float(flow[b, 0, y, x]), y + float(flow[b, 1, y, x])
                    alpha, beta = xf - math.floor(xf), yf - math.floor(yf)
                    val = total = 0.0
                    for fy in range(kernel_size // 2):
                        y_top = max(min(math.floor(yf) - fy, ih - 1), 0)
                        y_bottom = max(min(math.floor(yf) + fy + 1, ih - 1), 0)
                        for fx in range(kernel_size // 2):
                            x_left = max(min(math.floor(xf) - fx, iw - 1), 0)
                            x_right = max(min(math.floor(xf) + fx + 1, iw - 1), 0)
                            pl, pr = (math.exp(-(d * d) / (2 * sigma * sigma)) for d in (fx + alpha, fx + 1 - alpha))
                            pt, pb = (math.exp(-(d * d) / (2 * sigma * sigma)) for d in (fy + beta, fy + 1 - beta))
                            image = features[b, c]
                            val += pt * pl * float(image[y_top, x_left]) + pt * pr * float(image[y_top, x_right])
                            val += pb * pl * float(image[y_bottom, x_left]) + pb * pr * float(image[y_bottom, x_right])
                            total += pt * pl + pt * pr + pb * pl + pb * pr
                    out[b, c, y, x] = val / total
    return out


@pytest.mark.parametrize("kernel_size, sigma", [(4, 2.0), (16, 4.0)])
def test_resample2d_equals_the_cuda_kernel_loop(kernel_size, sigma):
    gen = torch.Generator().manual_seed(kernel_size)
    features = torch.randn(2, 3, 7, 9, generator=gen)
    flow = torch.randn(2, 2, 7, 9, generator=gen) * 4  # many samples fall off the border
    flow[0, :, 0, 0] = torch.tensor([-20.0, 30.0])
    flow[1, :, 2, 3] = torch.tensor([0.0, 0.0])  # integer position: frac 0
    ours = resample2d(features, flow, kernel_size, sigma)
    assert torch.allclose(ours.double(), _literal_resample(features, flow, kernel_size, sigma), atol=1e-5)
    # channel 0 is x: a flow of (+1, 0) with a narrow window reads the right-hand neighbour
    right = resample2d(features, torch.tensor([1.0, 0.0]).view(1, 2, 1, 1).expand(2, 2, 7, 9), 2, 0.1)
    assert torch.allclose(right[..., :-1], features[..., 1:], atol=1e-6)


def test_resample2d_of_a_zero_flow_is_a_gaussian_blur_with_clamped_borders():
    features = torch.randn(1, 2, 10, 12)
    ours = resample2d(features, torch.zeros(1, 2, 10, 12), 4, 2.0)
    offsets = torch.arange(-1, 3, dtype=torch.float32)
    g = torch.exp(-(offsets**2) / 8)
    padded = F.pad(features, (1, 2, 1, 2), mode="replicate")
    kernel = (g[:, None] * g[None, :] / (g.sum() ** 2)).expand(2, 1, 4, 4)
    assert torch.allclose(ours, F.conv2d(padded, kernel, groups=2), atol=1e-5)


def test_layer_norm_normalises_each_sample_over_channels_and_pixels():
    norm = LayerNorm(4)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 5.0).view(4, 1, 1))
        norm.bias.fill_(0.5)
    x = torch.randn(2, 4, 5, 6) * 3 + 1
    mean = x.mean((1, 2, 3), keepdim=True)
    var = x.var((1, 2, 3), unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-5) * torch.arange(1.0, 5.0).view(1, 4, 1, 1) + 0.5
    assert torch.allclose(norm(x), expected, atol=1e-5)


def test_loads_strictly_and_follows_the_official_test_path(predictor):
    assert predictor.reads_ground_truth and [p.name for p in predictor.weight_files] == list(FILES)
    seen = {}
    hooks = [getattr(predictor.module, n).register_forward_hook(lambda m, a, o, n=n: seen.update({n: (a[0], o)}))
             for n in ("s_gen", "f_gen")]
    images, masks, truth = _sample()
    out = predictor.predict(images, masks, ground_truth=truth)
    for hook in hooks:
        hook.remove()
    assert out.shape == (1, 3, 48, 48) and 0 <= out.min() and out.max() <= 1
    s_in, s_out = seen["s_gen"]
    f_in, (f_out, flow) = seen["f_gen"]
    valid = 1 - masks
    inputs = (truth * 2 - 1) * valid  # [-1,1], holes 0
    smooth = rtv_structure(truth, "function-defaults") * 2 - 1  # RTV of the FULL ground truth
    assert torch.allclose(s_in, torch.cat((inputs, smooth * valid, masks), 1), atol=1e-6)
    assert torch.allclose(f_in, torch.cat((inputs, s_out, masks), 1))  # raw stage-1 output
    assert flow.shape == (1, 2, 12, 12)
    assert torch.allclose(out, ((f_out + 1) / 2).clamp(0, 1))
    with pytest.raises(ValueError, match="ground_truth"):
        predictor.predict(images, masks)


def test_spectral_norm_uses_the_stored_vectors(predictor, checkpoint_dir):
    state = torch.load(checkpoint_dir / FILES[0], weights_only=True)
    weight, u, v = (state[f"down_sample.1.0.conv.weight_{s}"] for s in ("orig", "u", "v"))
    conv = predictor.module.s_gen.down_sample[1][0].conv
    assert torch.allclose(conv.weight, weight / (u @ weight.reshape(256, -1) @ v))
    assert torch.equal(conv.weight_u, u) and torch.equal(conv.weight_v, v)


def test_a_given_structure_overrides_rtv_and_is_masked(predictor):
    images, masks, truth = _sample()
    structure = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    seen = {}
    hook = predictor.module.s_gen.register_forward_pre_hook(lambda m, a: seen.update(x=a[0]))
    out = predictor.predict(images, masks, structure=structure)  # no ground truth needed
    hook.remove()
    assert torch.allclose(seen["x"][:, 3:6], normalise(structure) * (1 - masks))
    assert not torch.allclose(out, predictor.predict(images, masks, ground_truth=truth))


def test_smoothing_the_hole_zeroed_image_instead(checkpoint_dir):
    honest = load_predictor("structureflow", checkpoint=str(checkpoint_dir), structure_from="image", rtv_settings="script")
    assert not honest.reads_ground_truth and honest.config()["rtv"]["sharpness"] == 0.001
    images, masks, _ = _sample()
    seen = {}
    honest.module.s_gen.register_forward_pre_hook(lambda m, a: seen.update(x=a[0]))
    honest.predict(images, masks)
    assert torch.allclose(seen["x"][:, 3:6], normalise(rtv_structure(images, "script")) * (1 - masks), atol=1e-6)
    with pytest.raises(ValueError, match="structure_from"):
        load_predictor("structureflow", checkpoint=str(checkpoint_dir), structure_from="gt")


def test_batch_of_two_equals_two_batches_of_one(predictor):
    images, masks, truth = _sample(batch=2)
    together = predictor.predict(images, masks, ground_truth=truth)
    apart = torch.cat([predictor.predict(images[i : i + 1], masks[i : i + 1], ground_truth=truth[i : i + 1])
                       for i in range(2)])
    assert not torch.allclose(together[0], together[1], atol=1e-3)
    # Not bitwise: float32 kernels block and sum differently per batch size.
    # benchmarks/batch_invariance.py (8 random inputs, 1 and 2 threads) measured max
    # |together - apart| 1.5e-6 on AVX-512, 4.2e-6 on AVX2 and SSE4.1 (at most 5.6e-6 of the
    # output's magnitude). 2e-5 is the next 1-2-5 step above 4x the largest, 50x below the
    # 1e-3 by which the two items must differ.
    assert (together - apart).abs().max() < 2e-5


def test_sizes_are_padded_to_multiples_of_16_and_at_least_48(predictor):
    assert predictor.size.accepts(48, 64) and not predictor.size.accepts(32, 32) and not predictor.size.accepts(56, 64)
    fit = plan_fit(predictor.size, 32, 40)
    assert fit.input_size == (48, 48)
    with pytest.raises(ValueError, match="at least 48"):
        predictor.predict(*_sample(32)[:2], ground_truth=_sample(32)[2])


def test_strict_loading_rejects_a_missing_key(checkpoint_dir, tmp_path):
    state = torch.load(checkpoint_dir / FILES[1], weights_only=True)
    del state["conv_column.up_sample.1.6.norm.bias"]
    torch.save(state, tmp_path / FILES[1])
    (tmp_path / FILES[0]).write_bytes((checkpoint_dir / FILES[0]).read_bytes())
    with pytest.raises(CheckpointError, match="norm.bias"):
        load_predictor("structureflow", checkpoint=str(tmp_path))


def test_missing_weights_name_the_official_folder(checkpoint_dir, tmp_path):
    (tmp_path / FILES[0]).write_bytes((checkpoint_dir / FILES[0]).read_bytes())
    with pytest.raises(MissingWeightsError, match="1PrLgcEd964etxZcHIOE93uUONB9-b6pI") as error:
        load_predictor("structureflow", checkpoint=str(tmp_path), dataset="celeba")
    assert "latest_net_f_gen.pth" in str(error.value)
    with pytest.raises(MissingWeightsError, match="1K7U6fYthC4Acsx0GBde5iszHJWymyv1A"):
        load_predictor("structureflow")  # default: $HARNESS_WEIGHTS/structureflow/places2
    with pytest.raises(ValueError, match="folder"):
        load_predictor("structureflow", checkpoint=str(checkpoint_dir / FILES[0]))


def test_random_predictor_matches_the_official_architecture():
    model = StructureFlow()
    assert set(model.s_gen.state_dict()) == {k for k in random_s_gen()}
    assert {k: tuple(v.shape) for k, v in model.f_gen.state_dict().items()} == {k: tuple(v.shape) for k, v in random_f_gen().items()}


@pytest.mark.slow
def test_harness_run_end_to_end_on_the_embedded_default(tmp_path, capsys):
    write_official_files(tmp_path / "structureflow")
    args = ["run", "--methods", "structureflow", f"--checkpoint=structureflow={tmp_path / 'structureflow'}",
            "--limit", "2", "--size", "64", "--out", str(tmp_path / "runs"), "--no-progress", "--no-lpips"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| structureflow†" in out and "failed item" not in out
