"""LPIPS offline: the backbone download is tried once per machine, a local file can stand in.
Where the backbone comes from is explicit (ModelFiles), never read from the environment here."""
import urllib.error

import pytest
import torch

from harness.metrics import lpips_model
from harness.metrics.model_files import ModelFiles


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.delenv("HARNESS_NO_LPIPS", raising=False)
    monkeypatch.delenv("HARNESS_LPIPS_WEIGHTS", raising=False)
    monkeypatch.delenv("HARNESS_LPIPS_RETRY", raising=False)
    lpips_model._build.cache_clear()
    yield
    lpips_model._build.cache_clear()


def test_a_failed_download_is_remembered_and_retried_on_request(fresh, monkeypatch, capsys):
    import lpips

    calls = []

    def offline(*args, **kwargs):
        calls.append(kwargs)
        print("lpips chatter")  # must not reach stdout, where tables go
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(lpips, "LPIPS", offline)
    with pytest.warns(RuntimeWarning, match="not tried again"):
        assert lpips_model.lpips_distance("vgg") is None
    assert lpips_model.failure_marker().is_file() and len(calls) == 1
    assert "failed before" in lpips_model.backbone_status()
    lpips_model._build.cache_clear()  # a later run on the same machine
    with pytest.warns(RuntimeWarning, match="failed before"):
        assert lpips_model.lpips_distance("vgg") is None
    assert len(calls) == 1
    lpips_model._build.cache_clear()
    with pytest.warns(RuntimeWarning):
        lpips_model.lpips_distance("vgg", files=ModelFiles(lpips_retry=True))
    assert len(calls) == 2
    out, err = capsys.readouterr()
    assert out == "" and "lpips chatter" in err


def test_a_local_file_must_be_torchvisions_vgg16(fresh, tmp_path, monkeypatch):
    path = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    files = ModelFiles(lpips_weights=path)
    assert "from $HARNESS_LPIPS_WEIGHTS" in lpips_model.backbone_status("vgg", files)
    with pytest.raises(ValueError, match="397923af"):
        lpips_model.lpips_distance("vgg", files=files)


def test_the_backbone_lands_in_lpips_slices_by_feature_index(fresh):
    import lpips
    from torchvision.models import vgg16

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        state = vgg16().state_dict()
    model = lpips.LPIPS(net="vgg", version="0.1", verbose=False, pnet_rand=True)
    lpips_model.copy_backbone(model, state)
    loaded = model.net.state_dict()
    assert len(loaded) == 26  # 13 convolutions, weight and bias
    assert torch.equal(loaded["slice1.0.weight"], state["features.0.weight"])
    assert torch.equal(loaded["slice5.28.bias"], state["features.28.bias"])


def test_the_environment_is_read_at_the_edge_only(monkeypatch, tmp_path):
    from harness.environment import Environment

    monkeypatch.setenv("HARNESS_LPIPS_WEIGHTS", str(tmp_path / "vgg.pth"))
    monkeypatch.setenv("HARNESS_NO_LPIPS", "1")
    files = Environment.read().model_files()
    assert files == ModelFiles(tmp_path / "vgg.pth", False, True)
    assert Environment.read().model_files(tmp_path / "flag.pth").lpips_weights == tmp_path / "flag.pth"  # a flag wins
    assert lpips_model.lpips_distance("vgg", files=files) is None  # off: nothing built, nothing downloaded


def test_harness_list_says_where_lpips_stands(fresh, capsys):
    from harness.cli import main

    def listed() -> str:
        assert main(["list"]) == 0
        return " ".join(capsys.readouterr().out.split())

    assert "LPIPS backbone missing" in listed() and "downloaded on first use" in listed()
    lpips_model.failure_marker().parent.mkdir(parents=True, exist_ok=True)
    lpips_model.failure_marker().write_text("URLError")
    assert "the download failed before, not retried" in listed()
    lpips_model.backbone_file().parent.mkdir(parents=True, exist_ok=True)
    lpips_model.backbone_file().write_bytes(b"")
    assert "LPIPS backbone present" in listed()


def test_lpips_unavailable_is_a_note_and_one_warning_line_not_a_vanished_column(fresh, monkeypatch, tmp_path, capsys):
    import lpips

    from harness.cli import main

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(lpips, "LPIPS", offline)
    assert main(["run", "--methods", "telea", "--limit", "1", "--size", "48", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    warned = [line for line in err.splitlines() if "LPIPS unavailable" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: LPIPS unavailable")
    assert "lpips_distance(" not in err and "_build(" not in err  # no echoed source line
    assert "LPIPS: no value in these runs" in out
    for fmt in ("markdown", "latex"):
        assert main(["report", "--runs", str(tmp_path), "--format", fmt]) == 0
        assert "LPIPS: no value in these runs" in capsys.readouterr().out


def test_harness_list_names_each_profile_s_own_backbone(fresh, capsys):
    """The mat profile's LPIPS runs on AlexNet: its row reports AlexNet's file, not VGG16's."""
    from harness.cli import main

    assert main(["list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lpips_model.BACKBONE_FILES["alex"] in rows["mat"] and lpips_model.BACKBONE_FILES["vgg"] not in rows["mat"]
    assert lpips_model.BACKBONE_FILES["vgg"] in rows["paper"] and lpips_model.BACKBONE_FILES["vgg"] in rows["lama"]
