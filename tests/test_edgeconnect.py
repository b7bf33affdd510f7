"""EdgeConnect: strict loading of official-format checkpoints, test-path conventions, missing weights.

The expected state_dict layout is written out from the published architecture
(knazeri/edge-connect ``src/networks.py``; docs/baselines.md §3), not read from our module.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from skimage.color import rgb2gray
from skimage.feature import canny

from baselines.edgeconnect import gray_and_edges
from harness.checkpoints import MissingWeightsError
from harness.registry import load_predictor

# (name, in, out, kernel, transposed) of every conv; middle.i.conv_block.{1,5} are 256->256 k3.
_OUTER = [("encoder.1", None, 64, 7, False), ("encoder.4", 64, 128, 4, False), ("encoder.7", 128, 256, 4, False),
          ("decoder.0", 256, 128, 4, True), ("decoder.3", 128, 64, 4, True), ("decoder.7", 64, None, 7, False)]


def reference_layout(in_channels: int, out_channels: int, spectral: bool) -> dict[str, tuple[tuple[int, ...], bool, bool]]:
    """key prefix -> (weight shape, spectral norm?, transposed?) for one generator; bias implied."""
    layers = {}
    for name, cin, cout, k, transposed in _OUTER:
        cin, cout = cin or in_channels, cout or out_channels
        shape = (cin, cout, k, k) if transposed else (cout, cin, k, k)
        layers[name] = (shape, spectral and name != "decoder.7", transposed)
    for block in range(8):
        for conv in (1, 5):
            layers[f"middle.{block}.conv_block.{conv}"] = ((256, 256, 3, 3), spectral, False)
    return layers


def random_state_dict(in_channels: int, out_channels: int, spectral: bool, seed: int) -> dict[str, torch.Tensor]:
    """Random generator weights under the official key names (u, v consistent with power iteration)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, (shape, sn, transposed) in reference_layout(in_channels, out_channels, spectral).items():
        weight = torch.randn(shape, generator=gen) * 0.02
        out = shape[1] if transposed else shape[0]
        has_bias = not (sn and name.startswith("middle"))  # residual convs drop the bias under spectral norm
        if has_bias:
            state[f"{name}.bias"] = torch.randn(out, generator=gen) * 0.02
        if sn:
            matrix = (weight.transpose(0, 1) if transposed else weight).reshape(out, -1)
            u = torch.nn.functional.normalize(torch.randn(out, generator=gen), dim=0)
            state.update({f"{name}.weight_orig": weight, f"{name}.weight_u": u,
                          f"{name}.weight_v": torch.nn.functional.normalize(matrix.t() @ u, dim=0)})
        else:
            state[f"{name}.weight"] = weight
    return state


def _millions(state: dict[str, torch.Tensor]) -> float:
    """Parameters (spectral-norm u, v are buffers) in millions."""
    return round(sum(v.numel() for k, v in state.items() if not k.endswith(("_u", "_v"))) / 1e6, 2)


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edgeconnect")
    edge = random_state_dict(3, 1, spectral=True, seed=0)
    inpaint = random_state_dict(4, 3, spectral=False, seed=1)
    # published sizes: 70 tensors / 10.76 M parameters and 44 / 10.77 M
    assert (len(edge), _millions(edge), len(inpaint), _millions(inpaint)) == (70, 10.76, 44, 10.77)
    torch.save({"iteration": 1, "generator": edge}, folder / "EdgeModel_gen.pth")
    torch.save({"iteration": 1, "generator": inpaint}, folder / "InpaintingModel_gen.pth")
    return folder


def _sample(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    image = torch.full((1, 3, size, size), 0.2)
    image[:, :, 16:48, 8:40] = torch.tensor([0.9, 0.6, 0.3]).view(3, 1, 1)  # a bright rectangle
    mask = torch.zeros(1, 1, size, size)
    mask[:, :, 24:40, 28:56] = 1
    return image * (1 - mask), mask


def test_loads_strictly_and_predicts(checkpoint_dir):
    predictor = load_predictor("edgeconnect", checkpoint=str(checkpoint_dir))
    images, masks = _sample()
    out = predictor.predict(images.repeat(2, 1, 1, 1), masks.repeat(2, 1, 1, 1))
    assert out.shape == (2, 3, 64, 64) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    assert torch.allclose(out[0], out[1], atol=1e-6)
    assert [p.name for p in predictor.weight_files] == ["EdgeModel_gen.pth", "InpaintingModel_gen.pth"]
    assert predictor.config()["sigma"] == 2.0


def test_spectral_norm_uses_the_stored_vectors(checkpoint_dir):
    """Eval mode divides by u.W.v of the checkpoint and runs no power iteration."""
    predictor = load_predictor("edgeconnect", checkpoint=str(checkpoint_dir))
    predictor.predict(*_sample())
    state = torch.load(checkpoint_dir / "EdgeModel_gen.pth", weights_only=True)["generator"]
    weight, u, v = (state[f"encoder.4.weight_{s}"] for s in ("orig", "u", "v"))
    conv = predictor.module.edge_generator.encoder[4]
    assert torch.allclose(conv.weight, weight / (u @ weight.reshape(128, -1) @ v))
    assert torch.equal(conv.weight_u, u) and torch.equal(conv.weight_v, v)


def test_strict_loading_rejects_a_missing_key(checkpoint_dir, tmp_path):
    state = torch.load(checkpoint_dir / "EdgeModel_gen.pth", weights_only=True)
    del state["generator"]["middle.3.conv_block.5.weight_v"]
    torch.save(state, tmp_path / "EdgeModel_gen.pth")
    (tmp_path / "InpaintingModel_gen.pth").write_bytes((checkpoint_dir / "InpaintingModel_gen.pth").read_bytes())
    with pytest.raises(ValueError, match="weight_v"):
        load_predictor("edgeconnect", checkpoint=str(tmp_path))


def test_canny_matches_skimage_on_visible_pixels_only():
    images, masks = _sample()
    gray, edges = gray_and_edges(images, masks, sigma=2.0)
    hwc = images[0].permute(1, 2, 0).double().numpy()
    expected = canny(rgb2gray(hwc), sigma=2.0, mask=masks[0, 0].numpy() == 0)
    assert expected.any() and np.array_equal(edges[0, 0].numpy(), expected)
    assert np.allclose(gray[0, 0].numpy(), 0.2125 * hwc[..., 0] + 0.7154 * hwc[..., 1] + 0.0721 * hwc[..., 2], atol=1e-6)
    assert edges[masks.bool()].sum() == 0
    # what lies under the hole cannot change the edges
    noisy = images + masks * torch.rand_like(images)
    assert torch.equal(gray_and_edges(noisy, masks, sigma=2.0)[1], edges)


def _record(store: dict, name: str, module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
    store[name] = (args[0], out)


def test_network_inputs_follow_the_official_test_path(checkpoint_dir):
    predictor = load_predictor("edgeconnect", checkpoint=str(checkpoint_dir))
    seen = {}
    for name in ("edge_generator", "inpaint_generator"):
        getattr(predictor.module, name).register_forward_hook(partial(_record, seen, name))
    images, masks = _sample()
    predictor.predict(images, masks)
    edge_in, edge_logits = seen["edge_generator"]
    inpaint_in, _ = seen["inpaint_generator"]
    gray, edges = gray_and_edges(images, masks, sigma=2.0)
    hole = masks.bool()
    # edge model: cat(gray with white holes, edges off holes, mask with 1 = hole)
    assert torch.equal(edge_in[:, 2:3], masks)
    assert torch.all(edge_in[:, 0:1][hole] == 1) and torch.allclose(edge_in[:, 0:1][~hole], gray[~hole])
    assert torch.equal(edge_in[:, 1:2], edges)
    # inpainting model: RGB with white holes, and the raw edge prediction (not composited with Canny)
    assert torch.all(inpaint_in[:, :3][hole.expand(-1, 3, -1, -1)] == 1)
    assert torch.allclose(inpaint_in[:, 3:4], torch.sigmoid(edge_logits))


def test_missing_weights_name_the_official_folder(tmp_path):
    with pytest.raises(MissingWeightsError, match="13JgMA5sKMYgRwHBp4f7PBc5orNJ_Cv-p") as error:
        load_predictor("edgeconnect", checkpoint=str(tmp_path), dataset="celeba")
    assert "EdgeModel_gen.pth" in str(error.value)
    with pytest.raises(MissingWeightsError, match="158ch9Psjop0mQEdeIp9DKjrYIGTDsZKN"):
        load_predictor("edgeconnect")  # default: $HARNESS_WEIGHTS/edgeconnect/places2


def test_a_single_file_is_refused(checkpoint_dir):
    with pytest.raises(ValueError, match="folder"):
        load_predictor("edgeconnect", checkpoint=str(checkpoint_dir / "EdgeModel_gen.pth"))
