"""MAT: release pickles read without running their code, strict loading of every format, and the
predictor equal to the official generate_image.py path (re-stated in tests/mat_reference.py).

Fast tests run the official graph at resolution 128 (the smallest the official constructor
builds) with reduced widths; the slow ones at the released 256 and 512 configurations.
"""
from __future__ import annotations

import functools
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import baselines.mat
from baselines.mat import default_noise_mode, resolution_of
from baselines.mat_networks import Generator
from baselines.safe_pickle import load_network_pickle
from harness.engine.adapt import plan_fit
from harness.checkpoints import CheckpointError, MissingWeightsError
from harness.registry import load_predictor
from tests.mat_reference import OfficialMAT, official_init_state
from tests.stylegan_pickle import official_module_names, write_snapshot

SMALL = {512: 8, 256: 8, 128: 16, 64: 24, 32: 24, 16: 24, 8: 24, 4: 24}
SMALL_DIM = 12  # first-stage width; 6 heads
RES = 128


def canary_source(canary: Path) -> str:
    """Module source as a persistent pickle carries it, with a line that leaves a trace when executed."""
    return f"open({str(canary)!r}, 'w').write('executed')\nfrom baselines.mat_networks import *\n"


def safetensors_bytes(state: dict[str, torch.Tensor]) -> bytes:
    names = {torch.float16: "F16", torch.float32: "F32"}
    header, blobs, offset = {}, [], 0
    for key, tensor in state.items():
        blob = tensor.contiguous().numpy().tobytes()
        header[key] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs)


@pytest.fixture(scope="module")
def small_model():
    """Official-init random weights of the reduced 128 generator; G (raw) differs from G_ema."""
    g_ema = Generator(RES, SMALL, SMALL_DIM)
    state = official_init_state(g_ema, seed=1)
    g_ema.load_state_dict(state)
    g_raw = Generator(RES, SMALL, SMALL_DIM)
    g_raw.load_state_dict(official_init_state(g_raw, seed=2))
    return g_raw, g_ema, state


@pytest.fixture(scope="module")
def files(small_model, tmp_path_factory):
    g_raw, g_ema, state = small_model
    root = tmp_path_factory.mktemp("mat")
    canary = root / "canary"
    pkl = root / "network-snapshot.pkl"
    write_snapshot(pkl, g_raw, g_ema, canary_source(canary))
    pth = root / "Places_512_FullData_G.pth"
    torch.save(state, pth)
    fp16 = root / "mat_fp16.safetensors"
    fp16.write_bytes(safetensors_bytes({k: v.half() if v.is_floating_point() else v for k, v in state.items()}))
    return {"pkl": pkl, "pth": pth, "fp16": fp16, "canary": canary}


@pytest.fixture
def small_widths(monkeypatch):
    """mat() builds the official widths; the fast tests' checkpoints hold the reduced ones."""
    monkeypatch.setattr(baselines.mat, "Generator", functools.partial(Generator, channels=SMALL, dim=SMALL_DIM))


def sample(batch: int = 2, size: int = RES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, size, size, generator=generator)
    masks = torch.zeros(batch, 1, size, size)
    masks[0, :, size // 4: size * 3 // 4, size // 8: size // 2] = 1
    masks[1 % batch, :, size // 2:, size // 3:] = 1
    return images * (1 - masks), masks


def official_prediction(state, resolution, image, hole, seed, noise_mode) -> torch.Tensor:
    """generate_image.py for one image as image 1 of a fresh run seeded with ``seed``, before its uint8 step."""
    torch.manual_seed(seed)
    z = torch.from_numpy(np.random.RandomState(seed).randn(1, 512))
    with torch.no_grad():
        out = OfficialMAT(state, resolution)(image[None] * 2 - 1, 1 - hole[None], z, noise_mode)
    return ((out + 1) / 2).clamp(0, 1)[0]


def test_pickle_is_read_without_running_its_code(files, small_model):
    g_raw, g_ema, state = small_model
    data = load_network_pickle(files["pkl"])
    assert not files["canary"].exists()
    predictor = baselines.mat.read_generator_state(files["pkl"])[0]
    assert set(predictor) == set(state) and all(torch.equal(predictor[k], v) for k, v in state.items())  # G_ema, not G
    assert data["G_ema"].class_name == "Generator" and data["training_set_kwargs"]["resolution"] == RES
    with official_module_names(), files["pkl"].open("rb") as handle:
        pickle.load(handle)  # the official persistence mechanism: runs module_src
    assert files["canary"].read_text() == "executed"
    files["canary"].unlink()


def test_python37_pickles_load_too(small_model, tmp_path):
    """Protocol 3 (the releases' Python 3.7) pickles sets and OrderedDicts through globals."""
    g_raw, g_ema, state = small_model
    path = tmp_path / "protocol3.pkl"
    write_snapshot(path, g_raw, g_ema, canary_source(tmp_path / "canary"), protocol=3)
    loaded = baselines.mat.read_generator_state(path)[0]
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], v) for k, v in state.items())
    assert not (tmp_path / "canary").exists()


def test_foreign_globals_are_refused_in_one_line(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return os.system, ("echo hacked",)

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Evil()}))
    with pytest.raises(CheckpointError, match=r"refusing to load global (posix|os|nt)\.system") as error:
        baselines.mat.read_generator_state(path)
    assert "\n" not in str(error.value)


@pytest.mark.usefixtures("small_widths")
def test_predictor_equals_the_official_path(files, small_model):
    state = small_model[2]
    predictor = load_predictor("mat", checkpoint=str(files["pkl"]), device="cpu")
    assert predictor.noise_mode == "random" and predictor.seed == 240  # not 512: random, as the script forces
    assert predictor.config()["seed"] == 240 and predictor.config()["weights_format"] == "pkl G_ema"
    images, masks = sample()
    out = predictor.predict(images, masks)
    for i in range(2):
        expected = official_prediction(state, RES, images[i], masks[i], 240, "random")
        hole = masks[i].bool().expand_as(expected)
        assert (out[i] - expected).abs()[hole].max() <= 1e-4
        assert 0.05 < expected[hole].std()  # not saturated: the comparison sees real values
        torch.testing.assert_close(out[i][~hole], images[i][~hole], atol=1e-6, rtol=0)  # pasted back
    singles = torch.cat([predictor.predict(images[i: i + 1], masks[i: i + 1]) for i in (1, 0)])
    assert torch.equal(singles, out.flip(0))  # every item is image 1 of a fresh run: no batch or order effect


@pytest.mark.usefixtures("small_widths")
def test_options_seed_and_noise_mode(files, small_model):
    state = small_model[2]
    images, masks = sample(batch=1)
    default = load_predictor("mat", checkpoint=str(files["pth"]), device="cpu")
    other = load_predictor("mat", checkpoint=str(files["pth"]), device="cpu", seed=7, noise_mode="const")
    assert other.fingerprint() != default.fingerprint() and default.config()["weights_format"] == "state dict (float32)"
    expected = official_prediction(state, RES, images[0], masks[0], 7, "const")
    hole = masks[0].bool().expand_as(expected)
    got = other.predict(images, masks)[0]
    assert (got - expected).abs()[hole].max() <= 1e-4
    assert (got - default.predict(images, masks)[0]).abs()[hole].max() > 0.01
    with pytest.raises(ValueError, match="noise_mode"):
        load_predictor("mat", checkpoint=str(files["pth"]), noise_mode="fixed")


@pytest.mark.usefixtures("small_widths")
def test_fp16_safetensors_load_and_are_marked(files, small_model):
    predictor = load_predictor("mat", checkpoint=str(files["fp16"]), device="cpu")
    assert predictor.config()["weights_format"] == "state dict (float16)"
    loaded = predictor.module.state_dict()
    assert all(torch.equal(loaded[k], v.half().float()) for k, v in small_model[2].items() if v.is_floating_point())


@pytest.mark.usefixtures("small_widths")
def test_wrong_keys_are_a_one_line_error(small_model, tmp_path):
    state = dict(small_model[2])
    state["synthesis.extra.weight"] = state.pop("synthesis.to_square.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="1 missing keys .*synthesis.to_square.weight.*1 unexpected keys") as error:
        load_predictor("mat", checkpoint=str(path))
    assert "\n" not in str(error.value)
    torch.save({"generator.weight": torch.ones(1)}, path)
    with pytest.raises(CheckpointError, match="not a MAT generator"):
        load_predictor("mat", checkpoint=str(path))


def test_missing_weights_name_the_official_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_WEIGHTS", str(tmp_path))
    with pytest.raises(MissingWeightsError) as error:
        load_predictor("mat")
    message = str(error.value)
    assert "mycuhk-my.sharepoint.com" in message and "Places_512_FullData.pkl" in message
    assert "Sanster/models/releases/download/add_mat/Places_512_FullData_G.pth" in message and "CC BY-NC" in message


def test_released_configurations():
    """Key counts and sizes of the 256 and 512 generators; resolution, noise default and size rule from the keys."""
    for resolution, keys, params in ((256, 442, 59.78), (512, 487, 61.56)):
        model = Generator(resolution)
        state = model.state_dict()
        assert len(state) == keys and round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == params
        assert resolution_of(state, "x") == resolution
    assert default_noise_mode(512) == "const" and default_noise_mode(256) == "random"
    predictor = baselines.mat.MATPredictor(Generator(512))
    assert predictor.size.native == 512 and plan_fit(predictor.size, 256, 256).resize_to == 512  # adapted, not silent


@pytest.mark.slow
@pytest.mark.parametrize("resolution", [256, 512])
def test_released_configuration_equals_the_official_path(resolution):
    """At full width, random weights saturate most hole pixels of the [0, 1] prediction, so the
    network's raw output (caught by a hook) is compared too."""
    model = Generator(resolution)
    state = official_init_state(model, seed=3)
    model.load_state_dict(state)
    raw = []
    model.register_forward_hook(lambda module, args, output: raw.append(output))
    predictor = baselines.mat.MATPredictor(model)
    images, masks = sample(batch=1, size=resolution)
    got = predictor.predict(images, masks)[0]
    mode = default_noise_mode(resolution)
    z = torch.from_numpy(np.random.RandomState(240).randn(1, 512))
    torch.manual_seed(240)
    with torch.no_grad():
        official = OfficialMAT(state, resolution)(images * 2 - 1, 1 - masks, z, mode)
    hole = masks.bool().expand_as(official)
    assert (raw[0] - official).abs()[hole].max() <= 1e-4 * official.abs().max()
    assert (got - ((official[0] + 1) / 2).clamp(0, 1)).abs()[hole[0]].max() <= 1e-4
