"""MISF networks against the official key lists (docs/misf.md §10) and data flow (docs/misf.md §2, §4)."""
import pytest
import torch
import torch.nn.functional as F

from misf.filtering import reference_filter
from misf.networks import VARIANTS, Discriminator, FilterConfig, InpaintGenerator, build_generator

# The official generator's 92 keys and shapes (docs/misf.md §10): the independent reference for the checkpoint layout.
OFFICIAL_GENERATOR_KEYS = """
encoder0.1.weight (64, 4, 7, 7)
encoder0.1.bias (64,)
encoder1.0.weight (128, 64, 4, 4)
encoder1.0.bias (128,)
encoder2.0.weight (256, 128, 4, 4)
encoder2.0.bias (256,)
middle.0.conv_block.1.weight (256, 256, 3, 3)
middle.0.conv_block.1.bias (256,)
middle.0.conv_block.5.weight (256, 256, 3, 3)
middle.0.conv_block.5.bias (256,)
middle.1.conv_block.1.weight (256, 256, 3, 3)
middle.1.conv_block.1.bias (256,)
middle.1.conv_block.5.weight (256, 256, 3, 3)
middle.1.conv_block.5.bias (256,)
middle.2.conv_block.1.weight (256, 256, 3, 3)
middle.2.conv_block.1.bias (256,)
middle.2.conv_block.5.weight (256, 256, 3, 3)
middle.2.conv_block.5.bias (256,)
middle.3.conv_block.1.weight (256, 256, 3, 3)
middle.3.conv_block.1.bias (256,)
middle.3.conv_block.5.weight (256, 256, 3, 3)
middle.3.conv_block.5.bias (256,)
middle.4.conv_block.1.weight (256, 256, 3, 3)
middle.4.conv_block.1.bias (256,)
middle.4.conv_block.5.weight (256, 256, 3, 3)
middle.4.conv_block.5.bias (256,)
middle.5.conv_block.1.weight (256, 256, 3, 3)
middle.5.conv_block.1.bias (256,)
middle.5.conv_block.5.weight (256, 256, 3, 3)
middle.5.conv_block.5.bias (256,)
middle.6.conv_block.1.weight (256, 256, 3, 3)
middle.6.conv_block.1.bias (256,)
middle.6.conv_block.5.weight (256, 256, 3, 3)
middle.6.conv_block.5.bias (256,)
middle.7.conv_block.1.weight (256, 256, 3, 3)
middle.7.conv_block.1.bias (256,)
middle.7.conv_block.5.weight (256, 256, 3, 3)
middle.7.conv_block.5.bias (256,)
decoder.0.weight (256, 128, 4, 4)
decoder.0.bias (128,)
decoder.3.weight (128, 64, 4, 4)
decoder.3.bias (64,)
decoder.7.weight (3, 64, 7, 7)
decoder.7.bias (3,)
kpn_model.conv1.conv1.0.weight (64, 4, 3, 3)
kpn_model.conv1.conv1.0.bias (64,)
kpn_model.conv1.conv1.2.weight (64, 64, 3, 3)
kpn_model.conv1.conv1.2.bias (64,)
kpn_model.conv1.conv1.4.weight (64, 64, 3, 3)
kpn_model.conv1.conv1.4.bias (64,)
kpn_model.conv2.conv1.0.weight (128, 64, 3, 3)
kpn_model.conv2.conv1.0.bias (128,)
kpn_model.conv2.conv1.2.weight (128, 128, 3, 3)
kpn_model.conv2.conv1.2.bias (128,)
kpn_model.conv2.conv1.4.weight (128, 128, 3, 3)
kpn_model.conv2.conv1.4.bias (128,)
kpn_model.conv3.conv1.0.weight (256, 256, 3, 3)
kpn_model.conv3.conv1.0.bias (256,)
kpn_model.conv3.conv1.2.weight (256, 256, 3, 3)
kpn_model.conv3.conv1.2.bias (256,)
kpn_model.conv3.conv1.4.weight (256, 256, 3, 3)
kpn_model.conv3.conv1.4.bias (256,)
kpn_model.conv4.conv1.0.weight (512, 256, 3, 3)
kpn_model.conv4.conv1.0.bias (512,)
kpn_model.conv4.conv1.2.weight (512, 512, 3, 3)
kpn_model.conv4.conv1.2.bias (512,)
kpn_model.conv4.conv1.4.weight (512, 512, 3, 3)
kpn_model.conv4.conv1.4.bias (512,)
kpn_model.conv7.conv1.0.weight (256, 768, 3, 3)
kpn_model.conv7.conv1.0.bias (256,)
kpn_model.conv7.conv1.2.weight (256, 256, 3, 3)
kpn_model.conv7.conv1.2.bias (256,)
kpn_model.conv7.conv1.4.weight (256, 256, 3, 3)
kpn_model.conv7.conv1.4.bias (256,)
kpn_model.conv8.conv1.0.weight (128, 512, 3, 3)
kpn_model.conv8.conv1.0.bias (128,)
kpn_model.conv8.conv1.2.weight (128, 128, 3, 3)
kpn_model.conv8.conv1.2.bias (128,)
kpn_model.conv8.conv1.4.weight (128, 128, 3, 3)
kpn_model.conv8.conv1.4.bias (128,)
kpn_model.conv9.conv1.0.weight (64, 192, 3, 3)
kpn_model.conv9.conv1.0.bias (64,)
kpn_model.conv9.conv1.2.weight (64, 64, 3, 3)
kpn_model.conv9.conv1.2.bias (64,)
kpn_model.conv9.conv1.4.weight (64, 64, 3, 3)
kpn_model.conv9.conv1.4.bias (64,)
kpn_model.kernels.weight (576, 256, 1, 1)
kpn_model.kernels.bias (576,)
kpn_model.core_img.weight (27, 64, 1, 1)
kpn_model.core_img.bias (27,)
kpn_model.conv_final.weight (3, 12, 3, 3)
kpn_model.conv_final.bias (3,)
"""

# The official discriminator's 18 keys (docs/misf.md §10).
OFFICIAL_DISCRIMINATOR_KEYS = """
conv1.0.weight_orig (64, 3, 4, 4)
conv1.0.weight_u (64,)
conv1.0.weight_v (48,)
features.0.weight_orig (64, 3, 4, 4)
features.0.weight_u (64,)
features.0.weight_v (48,)
conv2.0.weight_orig (128, 64, 4, 4)
conv2.0.weight_u (128,)
conv2.0.weight_v (1024,)
conv3.0.weight_orig (256, 128, 4, 4)
conv3.0.weight_u (256,)
conv3.0.weight_v (2048,)
conv4.0.weight_orig (512, 256, 4, 4)
conv4.0.weight_u (512,)
conv4.0.weight_v (4096,)
conv5.0.weight_orig (1, 512, 4, 4)
conv5.0.weight_u (1,)
conv5.0.weight_v (8192,)
"""


pytestmark = pytest.mark.usefixtures("one_thread")


def parse(listing: str) -> list[tuple[str, tuple[int, ...]]]:
    rows = []
    for line in listing.strip().splitlines():
        key, shape = line.split(" ", 1)
        rows.append((key, tuple(int(n) for n in shape.strip("()").split(",") if n.strip())))
    return rows


def shapes(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(key, tuple(value.shape)) for key, value in module.state_dict().items()]


@pytest.fixture(scope="module")
def generator() -> InpaintGenerator:
    torch.manual_seed(0)
    return build_generator("misf").eval()


def test_generator_keys_equal_official_list(generator):
    expected = parse(OFFICIAL_GENERATOR_KEYS)
    assert len(expected) == 92
    assert shapes(generator) == expected
    assert sum(p.numel() for p in generator.parameters()) == 23_059_493


def test_discriminator_keys_equal_official_list():
    expected = parse(OFFICIAL_DISCRIMINATOR_KEYS)
    assert len(expected) == 18
    discriminator = Discriminator()
    assert shapes(discriminator) == expected
    assert discriminator.features is discriminator.conv1
    unique = {id(p): p.numel() for p in discriminator.parameters()}
    assert sum(unique.values()) == 2_763_776
    score, feats = discriminator(torch.rand(1, 3, 64, 64))
    assert score.shape == (1, 1, 6, 6) and len(feats) == 5 and 0 <= score.min() and score.max() <= 1


def test_init_is_normal_002_with_zero_bias(generator):
    weight = generator.kpn_model.conv4.conv1[2].weight
    assert abs(weight.std().item() - 0.02) < 1e-3
    assert torch.count_nonzero(generator.kpn_model.conv4.conv1[2].bias) == 0


def official_forward(g: InpaintGenerator, x: torch.Tensor) -> torch.Tensor:
    """docs/misf.md §2 and §4 step by step, with the official nearest expansion and stacked filter."""
    height, width = x.shape[-2:]
    kpn = g.kpn_model
    up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
    f2 = g.encoder1(g.encoder0(x))
    conv1 = kpn.conv1(x)
    conv2 = torch.cat([kpn.conv2(F.avg_pool2d(conv1, 2, 2)), f2], dim=1)
    conv3 = kpn.conv3(F.avg_pool2d(conv2, 2, 2))
    raw = kpn.kernels(conv3).unsqueeze(0)
    kernels = F.interpolate(raw, size=(2304, width // 4, height // 4), mode="nearest").squeeze(0)
    conv4 = kpn.conv4(conv3)
    conv7 = kpn.conv7(torch.cat([conv3, conv4], dim=1))
    conv8 = kpn.conv8(torch.cat([conv2, up(conv7)], dim=1))
    conv9 = kpn.conv9(torch.cat([conv1, up(conv8)], dim=1))
    core_img = kpn.core_img(conv9)
    f3_hat = reference_filter(g.encoder2(f2), kernels)
    decoded = g.decoder(g.middle(f3_hat))
    return (torch.tanh(reference_filter(decoded, core_img)) + 1) / 2


def test_forward_matches_spec_data_flow(generator):
    torch.manual_seed(1)
    with torch.no_grad():
        for module in generator.modules():  # larger weights than the init, so every path matters
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0, 0.1)
                module.bias.normal_(0, 0.1)
        x = torch.cat([torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.7).float()], dim=1)
        x[:, :3] *= 1 - x[:, 3:]
        out, features = generator.forward_features(x)
        expected = official_forward(generator, x)
    assert 0.01 < (expected - 0.5).abs().mean() and out.std() > 1e-3
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert features["F3"].shape == features["F3_hat"].shape == (2, 256, 8, 8)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_builds_and_runs(variant):
    torch.manual_seed(0)
    g = build_generator(variant).eval()
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        out, features = g.forward_features(x)
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()
    level = VARIANTS[variant].feature_level
    assert {k for k in features if k.endswith("_hat")} == ({f"F{level}_hat"} if level else set())
    loss = g(x).mean()
    loss.backward()
    unused = [name for name, p in g.named_parameters() if p.grad is None]
    assert unused == (["kpn_model.conv_final.weight", "kpn_model.conv_final.bias"] if variant == "misf" else [])


def test_variant_modules():
    keys = {name: set(build_generator(name).state_dict()) for name in VARIANTS}
    assert not any(k.startswith("encoder") for k in keys["img-filter"])
    assert not any(k.startswith("kpn_model") for k in keys["en-decoder"])
    assert not any("conv_final" in k for name, ks in keys.items() if name != "misf" for k in ks)
    assert "kpn_model.core_img.weight" in keys["en-decoder-filter"]
    assert "kpn_model.kernels.weight" not in keys["en-decoder-filter"]
    assert not any(k.startswith(("kpn_model.core_img", "kpn_model.conv8")) for k in keys["sem-filter-f3"])
    assert "kpn_model.conv7.conv1.0.weight" in keys["sem-filter-f3"]
    assert not any(k.startswith("kpn_model.conv9") for k in keys["sem-filter-f2"])


def test_separate_predictor_sees_no_sifb_features():
    g = build_generator("sem-filter-f3")
    assert g.kpn_model.conv3.conv1[0].in_channels == 128  # no F2 concatenated


def test_invalid_configs_raise():
    with pytest.raises(ValueError):
        FilterConfig(feature_level=1, interactive=True)
    with pytest.raises(ValueError):
        FilterConfig(feature_level=2, interactive=True)
    with pytest.raises(ValueError):
        FilterConfig(feature_level=4)
    with pytest.raises(ValueError):
        FilterConfig(encoder_decoder=False, feature_level=3, interactive=False)
    with pytest.raises(ValueError):
        build_generator("misf")(torch.zeros(1, 4, 30, 30))
