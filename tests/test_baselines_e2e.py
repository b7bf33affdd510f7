"""`harness run` with the baselines from files in their official containers."""
import pytest
import torch

from harness.cli import main
from tests import test_ctsdg, test_edgeconnect, test_jpgnet, test_lama, test_pconv, test_rfrnet
from tests.state_dicts import random_state


def _official_files(root):
    edge_dir = root / "edgeconnect"
    edge_dir.mkdir()
    torch.save({"iteration": 1, "generator": test_edgeconnect.random_state_dict(3, 1, True, 0)}, edge_dir / "EdgeModel_gen.pth")
    torch.save({"iteration": 1, "generator": test_edgeconnect.random_state_dict(4, 3, False, 1)}, edge_dir / "InpaintingModel_gen.pth")
    torch.save({"n_iter": 1, "generator": test_ctsdg.random_state_dict()}, root / "ctsdg.pt")
    torch.save({"n_iter": 1, "generator": random_state(test_rfrnet.official_keys(), gain=2.0)}, root / "checkpoint_celeba.pth")
    lama = root / "big-lama" / "models" / "best.ckpt"
    lama.parent.mkdir(parents=True)
    torch.save({"state_dict": random_state(test_lama.official_generator_keys())}, lama)
    return {"edgeconnect": edge_dir, "ctsdg": root / "ctsdg.pt", "rfrnet": root / "checkpoint_celeba.pth", "lama": lama}


@pytest.mark.slow
def test_run_four_baselines_end_to_end_on_the_embedded_default(tmp_path, capsys):
    files = _official_files(tmp_path)
    checkpoints = [f"--checkpoint={name}={path}" for name, path in files.items()]
    args = ["run", "--methods", "edgeconnect,rfrnet,ctsdg,lama", *checkpoints, "--limit", "1", "--size", "64",
            "--out", str(tmp_path / "runs"), "--no-progress", "--no-lpips"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("edgeconnect", "rfrnet", "ctsdg†", "lama"):
        assert f"| {name}" in out
    assert "failed item" not in out


@pytest.mark.slow
def test_run_pconv_and_jpgnet_end_to_end_on_the_embedded_default(tmp_path, capsys):
    pconv_file = tmp_path / test_pconv.PLACES_FILE
    state = random_state(test_pconv.official_keys(), gain=2.0)
    state |= {k: torch.ones(v.shape) for k, v in state.items() if k.endswith("weight_mask_updater")}
    torch.save({"meta": {"iter": 1}, "state_dict": state}, pconv_file)
    test_jpgnet.official_files(tmp_path / "jpgnet")
    args = ["run", "--methods", "pconv,jpgnet", f"--checkpoint=pconv={pconv_file}", f"--checkpoint=jpgnet={tmp_path / 'jpgnet'}",
            "--limit", "1", "--size", "64", "--out", str(tmp_path / "runs"), "--no-progress", "--no-lpips"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| pconv" in out and "| jpgnet" in out
    assert "failed item" not in out
