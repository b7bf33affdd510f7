"""Training (misf/training.py): learning, exact resume, the official update order, checkpoints, CLI.

Everything runs at 32x32 with batch 2 on CPU, one thread (two threads thrash on a shared
2-core machine), and a random VGG: a narrow one for the Trainer tests, full width in the CLI.
"""
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import vgg

from harness.cli import main
from harness.data.datasets import load_dataset
from harness.registry import load_predictor
from harness.data.mask_sets import load_mask_set
from misf.losses import VGGFeatures, load_vgg19
from misf.training_data import BatchSampler, MaskPool
from misf.training import TrainConfig, Trainer, checkpoint_paths

SIZE = 32
FAST = "misf-en-decoder"  # the cheapest generator; the recipe is the same for every variant


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def narrow_vgg() -> VGGFeatures:
    """VGG19's layer layout at 1/8 of the width: same slice indices, a fraction of the cost."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return VGGFeatures(vgg.make_layers([c if c == "M" else c // 8 for c in vgg.cfgs["E"]]))


@pytest.fixture
def fixed_mask(tmp_path) -> MaskPool:
    folder = tmp_path / "masks"
    folder.mkdir()
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[8:20, 10:24] = 255
    Image.fromarray(mask).save(folder / "hole.png")
    return MaskPool(SIZE, load_mask_set("folder", folder))


def trainer(out: Path, masks: MaskPool, images: int = 2, method: str = FAST, **config) -> Trainer:
    items = load_dataset("sample").images[:images]
    settings = dict(method=method, size=SIZE, batch_size=2, iterations=100, seed=3) | config
    config = TrainConfig(**settings)
    return Trainer(config, BatchSampler(items, masks, config.batch_size, config.seed), narrow_vgg(), out)


def test_overfits_two_images(tmp_path, fixed_mask):
    t = trainer(tmp_path / "run", fixed_mask)
    l1 = [t.step()["l1"] for _ in range(24)]
    assert np.mean(l1[-3:]) < 0.5 * l1[0], l1


def test_resume_continues_exactly(tmp_path):
    masks = MaskPool(SIZE, seed=3)  # random generated masks and flips: the data RNG must be restored
    straight = trainer(tmp_path / "straight", masks, images=4)
    expected = [straight.step() for _ in range(5)][3:]

    first = trainer(tmp_path / "resumed", masks, images=4)
    for _ in range(3):  # stops mid-epoch (4 images, batch 2)
        first.step()
    first.save()
    resumed = trainer(tmp_path / "resumed", masks, images=4)
    resumed.resume(tmp_path / "resumed")
    assert resumed.iteration == 3
    got = [resumed.step() for _ in range(2)]

    for want, have in zip(expected, got, strict=True):
        assert want.keys() == have.keys()
        np.testing.assert_allclose([have[k] for k in want], [want[k] for k in want], rtol=0, atol=1e-6)
    for a, b in ((straight.generator, resumed.generator), (straight.discriminator, resumed.discriminator)):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            assert torch.equal(x, y), name


def test_official_order_keeps_generator_adversarial_gradient_in_d(tmp_path, fixed_mask, monkeypatch):
    grads, losses = {}, {}
    for order in ("official", "textbook"):
        t = trainer(tmp_path / order, fixed_mask, update_order=order)
        step = t.dis_optimizer.step

        def capture(order=order, t=t, step=step):
            grads[order] = [p.grad.clone() for p in t.discriminator.parameters()]
            return step()

        monkeypatch.setattr(t.dis_optimizer, "step", capture)
        losses[order] = t.step()
    official, textbook = losses["official"], losses["textbook"]
    assert all(official[k] == textbook[k] for k in ("D", "l1", "perc", "style"))  # same first batch and forward
    assert official["adv"] != textbook["adv"]  # textbook: G's adversarial term sees the already-stepped D
    assert any(not torch.allclose(a, b) for a, b in zip(grads["official"], grads["textbook"], strict=True))


@pytest.mark.parametrize("method", ["misf", "misf-sem-filter-f2"])
def test_checkpoint_loads_strictly_in_the_predictor(tmp_path, fixed_mask, method):
    t = trainer(tmp_path / "run", fixed_mask, method=method)
    t.step()
    gen_path = t.save()
    assert gen_path == checkpoint_paths(tmp_path / "run", "1")[0] and gen_path.name == "1_InpaintingModel_gen.pth"
    gen = torch.load(gen_path, weights_only=True)
    dis = torch.load(checkpoint_paths(tmp_path / "run", "1")[1], weights_only=True)
    assert set(gen) == {"iteration", "generator"} and gen["iteration"] == 1
    assert set(dis) == {"discriminator"} and len(dis["discriminator"]) == 18  # docs/misf.md §10

    predictor = load_predictor(method, checkpoint=str(gen_path))
    images, masks = t.sampler.next()
    torch.testing.assert_close(predictor.predict(images, masks), t.predict(images, masks), rtol=0, atol=1e-6)


def test_vgg19_missing_offline_fails_before_training(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    out = tmp_path / "run"
    args = ["train", "--method", FAST, "--size", "32", "--batch-size", "2", "--iterations", "1", "--out", str(out)]
    assert main(args) == 2
    message = capsys.readouterr().err
    assert "VGG19" in message and "vgg19-dcbb9e9d.pth" in message and "--vgg-weights" in message
    assert not out.exists()


def test_vgg_weights_random_trains_offline_for_smoke_tests(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    out = tmp_path / "run"
    args = ["train", "--method", FAST, "--size", "32", "--batch-size", "2", "--iterations", "1", "--eval-every", "0",
            "--sample-every", "0", "--vgg-weights", "random", "--out", str(out), "--no-progress", "--device", "cpu"]
    assert main(args) == 0
    assert "untrained VGG19" in capsys.readouterr().out
    assert all(p.is_file() for p in checkpoint_paths(out, "1"))


def test_cli_trains_evaluates_saves_and_resumes(tmp_path):
    vgg_file = tmp_path / "vgg19-features.pth"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        torch.save(load_vgg19(random_init=True).features.state_dict(), vgg_file)
    out = tmp_path / "run"
    common = ["--method", FAST, "--vgg-weights", str(vgg_file), "--out", str(out), "--no-progress", "--device", "cpu"]
    recipe = ["--size", "32", "--batch-size", "2", "--eval-every", "1", "--sample-every", "2", "--save-every", "1"]
    assert main(["train", *common, *recipe, "--iterations", "2"]) == 0
    for name in ("1", "2", "best"):
        assert all(p.is_file() for p in checkpoint_paths(out, name))
    assert (out / "resume.pth").is_file() and (out / "samples" / "0000002.png").is_file()
    assert Image.open(out / "samples" / "0000002.png").size == (3 * SIZE, SIZE)  # one held-out image
    assert main(["train", *common, "--resume", str(out), "--iterations", "3"]) == 0  # recipe from config.json
    assert torch.load(checkpoint_paths(out, "3")[0], weights_only=True)["iteration"] == 3
    assert len((out / "log.jsonl").read_text().splitlines()) == 3
