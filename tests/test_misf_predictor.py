"""Loading official-format MISF checkpoints through the registry, and the predictor contract."""
import pytest
import torch

from harness.checkpoints import MissingWeightsError
from harness.registry import load_predictor, methods
from tests.test_misf_networks import OFFICIAL_GENERATOR_KEYS, parse

VARIANT_METHODS = [
    "misf-img-filter",
    "misf-sem-filter-f1",
    "misf-sem-filter-f2",
    "misf-sem-filter-f3",
    "misf-en-decoder",
    "misf-en-decoder-filter",
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def official_state_dict() -> dict[str, torch.Tensor]:
    """Random values in the published key/shape layout (docs/misf.md §10), built without our model code."""
    generator = torch.Generator().manual_seed(0)
    return {key: torch.randn(shape, generator=generator) * 0.02 for key, shape in parse(OFFICIAL_GENERATOR_KEYS)}


@pytest.fixture(scope="module")
def official_file(tmp_path_factory, official_state_dict):
    path = tmp_path_factory.mktemp("official") / "celebA_InpaintingModel_gen.pth"
    torch.save({"iteration": 1, "generator": official_state_dict}, path)
    return path


def batch(size: int = 32, width: int | None = None):
    torch.manual_seed(3)
    images = torch.rand(2, 3, size, width or size)
    masks = (torch.rand(2, 1, size, width or size) > 0.6).float()
    return images * (1 - masks), masks


def test_registered_names_and_weights_info():
    registered = methods()
    for name in ["misf", *VARIANT_METHODS]:
        assert name in registered and registered[name].weights is not None
    assert "drive.google.com" in registered["misf"].weights.source


def test_loads_official_checkpoint_strictly_and_predicts(official_file, official_state_dict):
    predictor = load_predictor("misf", checkpoint=str(official_file))
    assert not predictor.untrained and predictor.weight_files == (official_file,)
    loaded = predictor.module.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in official_state_dict.items())
    images, masks = batch()
    out = predictor.predict(images, masks)
    assert out.shape == (2, 3, 32, 32) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1 and out.std() > 0
    garbage = images + masks * torch.rand_like(images)  # what lies under the holes must not matter
    torch.testing.assert_close(predictor.predict(garbage, masks), out)


@pytest.mark.parametrize("wrap", ["bare", "module-prefix"])
def test_accepts_bare_and_dataparallel_state_dicts(tmp_path, official_state_dict, wrap):
    if wrap == "bare":
        data = official_state_dict
    else:
        data = {"iteration": 7, "generator": {f"module.{k}": v for k, v in official_state_dict.items()}}
    path = tmp_path / "weights.pth"
    torch.save(data, path)
    predictor = load_predictor("misf", checkpoint=str(path))
    assert torch.equal(predictor.module.decoder[7].bias, official_state_dict["decoder.7.bias"])


def test_dataset_selects_official_file_name(tmp_path, official_file, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "places2_InpaintingModel_gen.pth").symlink_to(official_file)
    assert load_predictor("misf", checkpoint=str(folder), dataset="places2").weight_files[0].name.startswith("places2")
    monkeypatch.setenv("HARNESS_WEIGHTS", str(folder))
    with pytest.raises(MissingWeightsError, match="celebA_InpaintingModel_gen.pth"):
        load_predictor("misf")  # default dataset: celeba


def test_missing_weights_names_official_location():
    with pytest.raises(MissingWeightsError) as error:
        load_predictor("misf")
    message = str(error.value)
    assert "https://drive.google.com/drive/folders/14QVgtG5nbk5e00QRqEJBlBM5Q-aHF5Bd" in message
    assert "raw.githubusercontent.com/tsingqguo/misf/main/checkpoints/places2_InpaintingModel_gen.pth" in message


@pytest.mark.parametrize("name", VARIANT_METHODS)
def test_variant_without_weights_says_to_train(name):
    with pytest.raises(MissingWeightsError, match="harness train"):
        load_predictor(name)


def test_wrong_keys_fail_loudly(tmp_path, official_state_dict):
    path = tmp_path / "partial.pth"
    torch.save({"generator": {k: v for k, v in official_state_dict.items() if "conv_final" not in k}}, path)
    with pytest.raises(ValueError, match="conv_final"):
        load_predictor("misf", checkpoint=str(path))


def test_rejects_non_square_and_odd_sizes():
    predictor = load_predictor("misf", checkpoint="random")
    with pytest.raises(ValueError, match="square"):
        predictor.predict(*batch(32, 48))
    with pytest.raises(ValueError, match="multiple of 4"):
        predictor.predict(*batch(30))


def test_random_weights_only_on_request(official_file):
    first = load_predictor("misf-en-decoder", random_weights=True, seed=5)
    again = load_predictor("misf-en-decoder", checkpoint="random", seed="5")
    other = load_predictor("misf-en-decoder", random_weights=True, seed=6)
    assert first.untrained and first.weight_files == () and first.config()["random_weights_seed"] == 5
    images, masks = batch()
    torch.testing.assert_close(first.predict(images, masks), again.predict(images, masks))
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()
    trained = load_predictor("misf", checkpoint=str(official_file))
    assert trained.fingerprint() != load_predictor("misf", checkpoint="random").fingerprint()
    with pytest.raises(ValueError):
        load_predictor("misf", checkpoint=str(official_file), random_weights=True)
    assert load_predictor("misf", checkpoint="random", dataset="sample").untrained


@pytest.mark.parametrize("name", VARIANT_METHODS)
def test_variant_checkpoint_round_trip(tmp_path, name):
    source = load_predictor(name, checkpoint="random", seed=1)
    path = tmp_path / f"{name}_celeba_gen.pth"
    torch.save({"iteration": 3, "generator": source.module.state_dict()}, path)
    loaded = load_predictor(name, checkpoint=str(tmp_path))
    images, masks = batch()
    torch.testing.assert_close(loaded.predict(images, masks), source.predict(images, masks))
    assert loaded.config()["variant"] == name.removeprefix("misf-")
