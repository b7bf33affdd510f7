"""big-LaMa: the Lightning best.ckpt is read safely and loads strictly; inputs follow bin/predict.py."""
from __future__ import annotations

import pickle
import sys
import time
import types
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import pytest
import torch

from baselines.lama import LamaPredictor
from baselines.lightning_checkpoint import read_lightning_state_dict
from baselines.weights import LAMA_HF
from harness.checkpoints import MissingWeightsError
from harness.registry import load_predictor
from tests.state_dicts import random_state

DRIVE_FOLDER = "1B2x7eQDgecTL0oh3LSIBDGj0fTxs6Ips"


def _bn(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    stats = {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}
    return stats | {f"{prefix}.num_batches_tracked": ()}


def official_generator_keys() -> dict[str, tuple[int, ...]]:
    """``generator.*`` entries of big-lama's best.ckpt, generated from the documented structure:
    FFCResNetGenerator (saicinpainting/training/modules/ffc.py, 786f593) configured by
    configs/training/big-lama.yaml. Sequential indices: 0 pad, 1 stem FFC (4->64, k7), 2-4
    downsampling FFCs (k3; the last one splits 512 into 128 local + 384 global), 5-22 the 18
    ResNet blocks, 23 concat, 24-32 three (ConvTranspose, BN, ReLU), 33 pad, 34 conv 64->3, 35 sigmoid."""
    keys: dict[str, tuple[int, ...]] = {}

    def ffc_bn_act(prefix: str, local_in: int, global_in: int, local_out: int, global_out: int, k: int) -> None:
        for name, cin, cout in (("l2l", local_in, local_out), ("l2g", local_in, global_out), ("g2l", global_in, local_out)):
            if cin and cout:
                keys[f"{prefix}.ffc.conv{name}.weight"] = (cout, cin, k, k)
        if global_in and global_out:
            g2g, half = f"{prefix}.ffc.convg2g", global_out // 2
            keys.update({f"{g2g}.conv1.0.weight": (half, global_in, 1, 1), **_bn(f"{g2g}.conv1.1", half)})
            keys.update({f"{g2g}.fu.conv_layer.weight": (2 * half, 2 * half, 1, 1), **_bn(f"{g2g}.fu.bn", 2 * half)})
            keys[f"{g2g}.conv2.weight"] = (global_out, half, 1, 1)
        keys.update(_bn(f"{prefix}.bn_l", local_out))
        if global_out:
            keys.update(_bn(f"{prefix}.bn_g", global_out))

    model = "generator.model"
    ffc_bn_act(f"{model}.1", 4, 0, 64, 0, 7)
    ffc_bn_act(f"{model}.2", 64, 0, 128, 0, 3)
    ffc_bn_act(f"{model}.3", 128, 0, 256, 0, 3)
    ffc_bn_act(f"{model}.4", 256, 0, 128, 384, 3)
    for block in range(5, 23):
        for conv in ("conv1", "conv2"):
            ffc_bn_act(f"{model}.{block}.{conv}", 128, 384, 128, 384, 3)
    for index, (cin, cout) in zip((24, 27, 30), ((512, 256), (256, 128), (128, 64))):
        keys.update({f"{model}.{index}.weight": (cin, cout, 3, 3), f"{model}.{index}.bias": (cout,)})
        keys.update(_bn(f"{model}.{index + 1}", cout))
    keys.update({f"{model}.34.weight": (3, 64, 7, 7), f"{model}.34.bias": (3,)})
    return keys


@contextmanager
def importable(module: str, **classes: type) -> Iterator[None]:
    """Make ``classes`` picklable under ``module`` (a package that is not installed here)."""
    with pytest.MonkeyPatch.context() as patch:
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):
            name = ".".join(parts[:depth])
            if name not in sys.modules:
                patch.setitem(sys.modules, name, types.ModuleType(name))
        for name, cls in classes.items():
            cls.__module__, cls.__qualname__ = module, name
            patch.setattr(sys.modules[module], name, cls, raising=False)
        yield


class DictConfig(dict):  # OmegaConf containers pickle their nodes and metadata as object state
    pass


class ListConfig(list):
    pass


class ModelCheckpoint:
    pass


class Trap:
    """Unpickling this runs ``os.remove(path)`` unless the reader refuses to execute code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        import os

        return os.remove, (self.path,)


@pytest.fixture(scope="module")
def lightning_file(tmp_path_factory) -> tuple:
    """best.ckpt laid out as in big-lama.zip, with the non-tensor objects Lightning 1.2 stores."""
    root = tmp_path_factory.mktemp("weights")
    sentinel = root / "sentinel"
    sentinel.write_text("must survive loading")
    generator_state = random_state(official_generator_keys())
    extra = {"discriminator.model0.0.weight": torch.ones(64, 3, 4, 4), "loss_resnet_pl.impl.conv1.weight": torch.ones(2)}
    hparams = DictConfig(generator={"kind": "ffc_resnet", "n_blocks": 18})
    hparams.__dict__["_metadata"] = ListConfig(["flags", 1])
    callback = ModelCheckpoint()
    callback.best_model_score = torch.tensor(0.1)
    checkpoint = {
        "epoch": 39,
        "global_step": 1000,
        "pytorch-lightning_version": "1.2.9",
        "state_dict": {**generator_state, **extra},
        "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.1), "instance": callback}},
        "hyper_parameters": hparams,
        "hparams_type": DictConfig,
        "lr_schedulers": [],
        "trap": Trap(str(sentinel)),
    }
    path = root / "big-lama" / "models" / "best.ckpt"
    path.parent.mkdir(parents=True)
    with importable("omegaconf.dictconfig", DictConfig=DictConfig, ListConfig=ListConfig), importable(
        "pytorch_lightning.callbacks.model_checkpoint", ModelCheckpoint=ModelCheckpoint
    ):
        torch.save(checkpoint, path)
    return path, generator_state, sentinel


def test_reference_matches_published_counts():
    keys = official_generator_keys()
    params = sum(torch.Size(s).numel() for k, s in keys.items() if "running" not in k and "num_batches" not in k)
    assert len(keys) == 989 and round(params / 1e6, 2) == 50.98


def test_lightning_file_is_read_without_running_its_code(lightning_file):
    path, generator_state, sentinel = lightning_file
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)  # why a reader of our own is needed
    state = read_lightning_state_dict(path)
    assert sentinel.exists()
    assert set(state) == set(generator_state) | {"discriminator.model0.0.weight", "loss_resnet_pl.impl.conv1.weight"}


@pytest.fixture(scope="module")
def loaded(lightning_file) -> LamaPredictor:
    return load_predictor("lama", checkpoint=str(lightning_file[0]))


def test_official_checkpoint_loads_strictly_and_predicts(lightning_file, loaded):
    path, generator_state, _ = lightning_file
    assert loaded.weight_files == (path,)
    assert load_predictor("lama", checkpoint=str(path.parent.parent)).weight_files == (path,)  # unzipped big-lama/
    state = loaded.module.state_dict()
    assert {f"generator.{k}": tuple(v.shape) for k, v in state.items()} == official_generator_keys()
    assert all(torch.equal(state[k.removeprefix("generator.")], v) for k, v in generator_state.items())
    images, masks = torch.rand(2, 3, 36, 44), torch.zeros(2, 1, 36, 44)
    masks[0, :, 5:20, 10:30] = 1
    out = loaded.predict(images * (1 - masks), masks)
    assert out.shape == (2, 3, 36, 44) and out.min() >= 0 and out.max() <= 1 and out.std() > 0


class Spy(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.clone()
        return torch.sigmoid(x[:, :3])


@pytest.mark.parametrize("height,width", [(21, 30), (3, 16)])
def test_input_conventions(height, width):
    spy = Spy()
    images = torch.rand(2, 3, height, width)
    masks = torch.zeros(2, 1, height, width)
    masks[0, :, : height // 2, width // 3 :] = 1
    masks[1, :, height // 3 :, : width // 2] = 0.2  # any positive value is a hole (`mask > 0`)
    out = LamaPredictor(spy).predict(images, masks)
    padded_h, padded_w = -(-height // 8) * 8, -(-width // 8) * 8
    symmetric = ((0, 0), (0, 0), (0, padded_h - height), (0, padded_w - width))
    hole = torch.from_numpy(np.pad((masks > 0).float().numpy(), symmetric, mode="symmetric"))
    image = torch.from_numpy(np.pad(images.numpy(), symmetric, mode="symmetric"))
    assert spy.seen.shape == (2, 4, padded_h, padded_w)
    assert torch.equal(spy.seen[:, 3:], hole)  # mask channel last, 1 = hole, each sample mirrors itself
    assert torch.equal(spy.seen[:, :3], image * (1 - hole))  # [0,1], holes zeroed
    torch.testing.assert_close(out, torch.sigmoid(images * (1 - (masks > 0).float())))  # cropped back


def test_batch_of_two_equals_two_batches_of_one(loaded):
    images, masks = torch.rand(2, 3, 24, 40), (torch.rand(2, 1, 24, 40) > 0.5).float()
    batch = loaded.predict(images, masks)
    singles = torch.cat([loaded.predict(images[i : i + 1], masks[i : i + 1]) for i in range(2)])
    # Not bitwise (float32 kernels differ per batch size): benchmarks/batch_invariance.py (8
    # random inputs, 1 and 2 threads, AVX-512, AVX2 and SSE4.1) measured max |batch - singles|
    # 6.0e-8 everywhere, one float32 step at the ~0.5 outputs. 1e-5 keeps a wide margin for CPUs
    # not measured (JPGNet's spread grew 3x from AVX-512 to AVX2).
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=0)


def test_missing_weights_name_the_official_location():
    with pytest.raises(MissingWeightsError) as error:
        load_predictor("lama")
    assert DRIVE_FOLDER in str(error.value) and "camenduru/big-lama" in str(error.value)


def test_uncached_hf_checkpoint_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(MissingWeightsError, match=DRIVE_FOLDER):
        load_predictor("lama", checkpoint=LAMA_HF)
    assert time.monotonic() - start < 10
