"""RFR-Net: the released container loads strictly, inputs follow run.py --test, samples stay independent."""
from __future__ import annotations

import time

import pytest
import torch

from baselines.rfrnet import RFRNetPredictor
from harness.checkpoints import MissingWeightsError
from harness.registry import load_predictor
from tests.state_dicts import random_state

DRIVE_FOLDER = "1EbRSL6SlJqeMliT9qU8V5g0idJqvirZr"


def _bn(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    stats = {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}
    return stats | {f"{prefix}.num_batches_tracked": ()}


def official_keys() -> dict[str, tuple[int, ...]]:
    """The ``generator`` entry of the released checkpoints, written out from modules/RFRNet.py
    and modules/Attention.py of jingyuanli001/RFR-Inpainting (e1cad6a). ConvTranspose2d weights
    are [in, out, k, k]; PartialConv2d keeps its mask kernel out of the state_dict."""
    keys = {"Pconv1.weight": (64, 3, 7, 7), **_bn("bn1", 64), "Pconv2.weight": (64, 64, 7, 7), **_bn("bn20", 64)}
    keys |= {"Pconv21.weight": (64, 64, 7, 7), "Pconv22.weight": (64, 64, 7, 7), **_bn("bn2", 64)}
    encoders = [(64, 128), (128, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    for i, (cin, cout) in enumerate(encoders, start=1):
        keys |= {f"RFRModule.enc_{i}.0.weight": (cout, cin, 3, 3), **_bn(f"RFRModule.enc_{i}.1", cout)}
    decoders = {5: (512, 1024, 3, 3), 4: (512, 1024, 3, 3), 3: (1024, 512, 4, 4), 2: (768, 256, 4, 4), 1: (384, 64, 4, 4)}
    for i, shape in decoders.items():
        out = shape[0] if i > 3 else shape[1]
        keys |= {f"RFRModule.dec_{i}.0.weight": shape, **_bn(f"RFRModule.dec_{i}.1", out)}
    keys |= {"RFRModule.att.att.ratio": (1,), "RFRModule.att.combiner.weight": (512, 1024, 1, 1), "RFRModule.att.combiner.bias": (512,)}
    keys |= {"Tconv.weight": (64, 64, 4, 4), **_bn("bn3", 64), "tail1.weight": (32, 67, 3, 3)}
    keys |= {"tail2.conv1.weight": (8, 32, 1, 1), **_bn("tail2.bn1", 8), "tail2.conv2.weight": (8, 8, 3, 3), **_bn("tail2.bn2", 8)}
    keys |= {"tail2.conv3.weight": (32, 8, 1, 1), **_bn("tail2.bn3", 32), "out.weight": (3, 64, 3, 3)}
    return keys


@pytest.fixture(scope="module")
def official_file(tmp_path_factory) -> tuple:
    """A checkpoint in the released container ``{'n_iter', 'generator', 'optimizer_G'}``, named as on Drive."""
    keys = official_keys()
    state = random_state(keys, gain=2.0)
    params = [torch.nn.Parameter(v) for k, v in state.items() if "running" not in k and "num_batches" not in k]
    path = tmp_path_factory.mktemp("RFR_Net_pretrained") / "checkpoint_celeba.pth"
    torch.save({"n_iter": 500000, "generator": state, "optimizer_G": torch.optim.Adam(params, lr=2e-4).state_dict()}, path)
    return path, state


def test_reference_matches_published_counts():
    keys = official_keys()
    params = sum(torch.Size(s).numel() for k, s in keys.items() if "running" not in k and "num_batches" not in k)
    assert len(keys) == 114 and round(params / 1e6, 2) == 31.22


def test_official_checkpoint_loads_strictly_and_predicts(official_file):
    path, state = official_file
    predictor = load_predictor("rfrnet", checkpoint=str(path), target_size=64)
    loaded = predictor.module.state_dict()
    assert {k: tuple(v.shape) for k, v in loaded.items()} == official_keys()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert predictor.weight_files == (path,) and predictor.config()["dataset"] == "celeba"
    images, masks = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    masks[..., 16:48, 8:40] = 1
    out = predictor.predict(images * (1 - masks), masks)
    assert out.shape == (1, 3, 64, 64) and out.min() >= 0 and out.max() <= 1
    assert out.std() > 0  # the loaded weights act: not a constant


def test_folder_lookup_uses_the_official_name_per_dataset(official_file):
    path, _ = official_file
    assert load_predictor("rfrnet", checkpoint=str(path.parent)).weight_files == (path,)
    with pytest.raises(MissingWeightsError, match="checkpoint_paris.pth"):
        load_predictor("rfrnet", checkpoint=str(path.parent), dataset="psv")


class Spy(torch.nn.Module):
    """Records what the network receives; answers out of range to show the clamp."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.seen = image.clone(), mask.clone()
        return torch.full_like(image, 1.5) - 2 * mask


def test_input_conventions():
    spy = Spy()
    predictor = RFRNetPredictor(spy, target_size=None)
    images = torch.rand(2, 3, 32, 48)
    masks = torch.zeros(2, 1, 32, 48)
    masks[0, :, 4:20, 4:20] = 1
    masks[1, :, 10:30, 30:40] = 0.3  # any positive value is a hole, as run.py's `mask > 0`
    out = predictor.predict(images, masks)
    image_in, mask_in = spy.seen
    valid = (masks == 0).float().expand(-1, 3, -1, -1)
    assert torch.equal(mask_in, valid)  # 1 = valid, 3 channels
    assert torch.equal(image_in, images * valid)  # [0,1], holes zeroed, no normalisation
    assert out.min() == 0 and out.max() == 1  # clamped like save_image
    assert RFRNetPredictor(spy).size.native == 256 and predictor.size.multiple == 16
    with pytest.raises(ValueError, match="16"):
        predictor.predict(torch.rand(1, 3, 40, 40), torch.zeros(1, 1, 40, 40))


def test_batch_of_two_equals_two_batches_of_one(official_file):
    predictor = load_predictor("rfrnet", checkpoint=str(official_file[0]), target_size=None)
    images = torch.rand(2, 3, 32, 48)
    masks = torch.zeros(2, 1, 32, 48)
    masks[0, :, 8:24, 8:40] = 1
    masks[1] = (torch.rand(1, 32, 48) > 0.6).float()
    valid = (1 - masks).expand(-1, 3, -1, -1)
    with torch.inference_mode():
        batch = predictor.module(images * valid, valid)
        singles = [predictor.module(images[i : i + 1] * valid[i : i + 1], valid[i : i + 1]) for i in range(2)]
        again = predictor.module(images[:1] * valid[:1], valid[:1])
    assert batch.abs().max() > 0.05
    # Not bitwise (float32 kernels differ per batch size): benchmarks/batch_invariance.py (8
    # random inputs, 1 and 2 threads) measured max |batch - singles| 1.2e-7 on AVX-512, 1.3e-7 on
    # AVX2 and SSE4.1 (2.4e-7 of the output's magnitude). 1e-5 keeps a wide margin for CPUs
    # not measured (JPGNet's spread grew 3x from AVX-512 to AVX2).
    torch.testing.assert_close(batch, torch.cat(singles), atol=1e-5, rtol=0)
    torch.testing.assert_close(again, singles[0], atol=0, rtol=0)  # no state carried between calls


def test_missing_weights_name_the_official_location():
    with pytest.raises(MissingWeightsError) as error:
        load_predictor("rfrnet")
    assert DRIVE_FOLDER in str(error.value) and "checkpoint_celeba.pth" in str(error.value)
    with pytest.raises(MissingWeightsError, match="never released"):
        load_predictor("rfrnet", dataset="places2")


def test_uncached_hf_checkpoint_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(MissingWeightsError, match=DRIVE_FOLDER):
        load_predictor("rfrnet", checkpoint="hf://nobody/rfr-net/checkpoint_celeba.pth")
    assert time.monotonic() - start < 10
