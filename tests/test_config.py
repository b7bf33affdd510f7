"""Parse once: the environment is read in one place, and a run takes everything from its one
configuration (cache root and data folders included), whatever the process environment says."""
from pathlib import Path

import numpy as np
from PIL import Image

from harness.config import RunConfig
from harness.data.spec import RunSpec
from harness.engine.runner import run
from harness.environment import Environment
from harness.metrics.model_files import ModelFiles


def test_environment_read_maps_each_variable_and_keeps_the_defaults():
    env = Environment.read({"HARNESS_CACHE": "/c", "HARNESS_RUNS": "r", "HARNESS_LPIPS_WEIGHTS": "/w/vgg.pth",
                            "HARNESS_DATA_CELEBA": "/d/celeba", "HARNESS_NVIDIA_MASKS": "/m", "WORLD_SIZE": "2",
                            "HF_HUB_OFFLINE": "yes", "HARNESS_PROGRESS_SECONDS": "0.5", "UNRELATED": "x"})
    assert (env.cache_root, env.runs_root, env.world_size, env.offline, env.progress_seconds) == \
        (Path("/c"), Path("r"), 2, True, 0.5)
    assert env.roots == {"HARNESS_DATA_CELEBA": "/d/celeba", "HARNESS_NVIDIA_MASKS": "/m"}
    assert env.model_files() == ModelFiles(Path("/w/vgg.pth"), False, False)
    bare = Environment.read({})
    assert bare.runs_root == Path("runs") and bare.lpips_weights is None and bare.roots == {}
    assert bare.cache_root == Path.home() / ".cache" / "inpainting-harness"


def test_the_inception_trunk_variable_and_its_mat_alias_reach_the_model_files():
    trunk = lambda environ: Environment.read(environ).model_files().inception_trunk  # noqa: E731
    assert trunk({"HARNESS_INCEPTION_TRUNK": "/t/default_1.pt"}) == Path("/t/default_1.pt")
    assert trunk({"HARNESS_MAT_INCEPTION_TRUNK": "/m/default_1.pt"}) == Path("/m/default_1.pt")
    assert trunk({"HARNESS_INCEPTION_TRUNK": "/t.pt", "HARNESS_MAT_INCEPTION_TRUNK": "/m.pt"}) == Path("/t.pt")
    assert trunk({}) is None


def test_a_run_takes_its_cache_root_and_data_folder_from_the_configuration(tmp_path, monkeypatch):
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(images / name)
    for variable in ("HARNESS_CACHE", "HARNESS_RUNS", "HARNESS_DATA_FOLDER"):
        monkeypatch.setenv(variable, str(tmp_path / "not-here"))  # the process's environment must not count
    env = Environment(cache_root=tmp_path / "cache", runs_root=tmp_path / "runs",
                      roots={"HARNESS_DATA_FOLDER": str(tmp_path / "data")})
    config = RunConfig.of(RunSpec(dataset="folder", size=48, buckets="0-100", limit=2), ["telea"], env,
                          metrics=("PSNR",))
    result = run(config)
    assert result.run_dir.parent == tmp_path / "runs" and (tmp_path / "cache").is_dir()
    assert len(result.manifest.items) == 2 and result.methods[0].predicted == 2
    assert not (tmp_path / "not-here").exists()
    again = run(config)  # a warm rerun from the same configuration predicts and scores nothing
    assert (again.methods[0].predicted, again.methods[0].scored) == (0, 0)
