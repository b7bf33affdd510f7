"""Set-level metrics in a run: per-bucket FID/KID/P-IDS/U-IDS from cached per-item features,
equal to float64 references on the same features, and features never computed twice."""
import numpy as np
import pytest
import scipy.linalg
import torch

from harness.cli import main
from harness.data.manifest import build_manifest
from harness.metrics.functional import composite, to_uint8_truncated
from harness.metrics.inception import InceptionFeatures
from harness.store.records import load_set_metrics
from harness.config import RunConfig
from harness.engine.runner import run
from harness.data.spec import RunSpec
from tests.plugin_methods import MeanFill

SPEC = RunSpec(limit=6, size=32)
METHOD = "tests.plugin_methods:mean_fill"


class Probe(torch.nn.Module):
    """A seeded random feature extractor on uint8 images that counts the images it sees."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 12, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.1)
            self.conv.bias.zero_()
        self.images = 0

    def forward(self, images):
        self.images += len(images)
        return torch.tanh(self.conv(images.float() / 255)).mean((2, 3))


def _fid64(real, fake):
    mu_r, mu_f = real.mean(0), fake.mean(0)
    s_r, s_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(s_r @ s_f).real
    return float(((mu_r - mu_f) ** 2).sum() + np.trace(s_r + s_f - 2 * root))


def _mmd2_unbiased(x, y):
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def test_set_metrics_equal_float64_references_and_features_are_computed_once(tmp_path):
    probe = Probe()
    extractor = InceptionFeatures.from_module(probe, "probe")
    names = ("FID", "KID", "P-IDS", "U-IDS")
    result = run(RunConfig.of(SPEC, [METHOD], out=tmp_path, metrics=("PSNR",), set_metrics=names,
                 extractor=extractor, set_bootstrap=20))
    images = {i.image_sha256 for i in result.manifest.items}
    assert probe.images == len(result.manifest.items) + len(images)  # each composite once, each truth once
    rows = {(r["bucket"], r["metric"]): r for r in result.methods[0].set_rows}

    manifest = build_manifest(SPEC)
    for bucket in ("0-20", "20-40", "40-60"):
        items = [i for i in manifest.items if i.bucket == bucket]
        images, masks = zip(*(manifest.load(i) for i in items))
        images = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
        masks = torch.from_numpy(np.stack(masks))[:, None]
        merged = composite(MeanFill().predict(images * (1 - masks), masks), images, masks).clamp(0, 1)
        with torch.no_grad():
            fake, real = (Probe()(torch.from_numpy(to_uint8_truncated(x)).permute(0, 3, 1, 2)).double().numpy()
                          for x in (merged, images))
        fake, real = fake.astype(np.float32).astype(np.float64), real.astype(np.float32).astype(np.float64)
        assert rows[(bucket, "FID")]["value"] == pytest.approx(_fid64(real, fake), abs=1e-6)
        assert rows[(bucket, "KID×1000")]["value"] == pytest.approx(_mmd2_unbiased(fake, real) * 1000, abs=1e-6)
        assert rows[(bucket, "FID")]["note"].startswith("biased") and rows[(bucket, "FID")]["n"] == 6
        low, high = rows[(bucket, "FID")]["ci_low"], rows[(bucket, "FID")]["ci_high"]
        assert low <= high and np.isfinite([low, high]).all()
        assert 0 <= rows[(bucket, "P-IDS")]["value"] <= 1 and 0 <= rows[(bucket, "U-IDS")]["value"] <= 1

    probe.images = 0
    MeanFill.calls = 0
    again = run(RunConfig.of(SPEC, [METHOD], out=tmp_path, metrics=("PSNR",), set_metrics=names,
                extractor=extractor, set_bootstrap=20))
    assert probe.images == 0 and MeanFill.calls == 0
    assert again.methods[0].set_rows == result.methods[0].set_rows
    stored = load_set_metrics(tmp_path)
    assert len(stored) == 12 and set(stored["metric"]) == {"FID", "KID×1000", "P-IDS", "U-IDS"}


def test_adding_a_set_metric_to_a_finished_run_computes_only_features(tmp_path, capsys):
    run(RunConfig.of(SPEC, [METHOD], out=tmp_path, metrics=("PSNR",)))
    probe, MeanFill.calls = Probe(), 0
    run(RunConfig.of(SPEC, [METHOD], out=tmp_path, metrics=("PSNR",), set_metrics=("KID",),
        extractor=InceptionFeatures.from_module(probe, "probe"), set_bootstrap=0))
    assert MeanFill.calls == 0 and probe.images == 18 + 6  # 18 composites, the 6 images' truths
    assert main(["report", "--runs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "KID×1000↓" in out
    assert main(["report", "--runs", str(tmp_path), "--confidence", "--format", "csv"]) == 0
    assert "KID×1000" in capsys.readouterr().out


def test_missing_inception_weights_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from harness.metrics import inception

    monkeypatch.setattr(inception, "find_trunk", lambda named=None: None)  # neither the official file nor the offline trunk
    code = main(["run", "--methods", "telea", "--limit", "1", "--size", "32", "--set-metrics", "FID", "--out",
                 str(tmp_path), "--no-progress", "--no-lpips"])
    out = capsys.readouterr().err
    assert code == 2 and "weights-inception-2015-12-05-6726825d.pth" in out


def test_check_compares_set_level_metrics(tmp_path):
    """Expectations made with set-level metrics hold their values; a moved or missing one fails."""
    from harness.reports.check import Expectations, compare, expectations_from_records
    from harness.store.records import load_records

    result = run(RunConfig.of(SPEC, [METHOD], out=tmp_path, metrics=("PSNR",), set_metrics=("FID", "KID"),
                              extractor=InceptionFeatures.from_module(Probe(), "probe"), set_bootstrap=0))
    records, sets = load_records(result.run_dir), load_set_metrics(result.run_dir)
    expected = expectations_from_records(SPEC, [METHOD], records, None, sets, ("FID", "KID"))
    assert {"FID", "KID×1000"} <= set(expected.tolerances) and expected.set_metrics == ("FID", "KID")
    expected.write(tmp_path / "expected.json")
    again = Expectations.read(tmp_path / "expected.json")
    assert again.set_metrics == ("FID", "KID")
    assert compare(again, records, sets)["ok"].all()
    diff = compare(again, records, sets)
    assert set(diff["metric"]) >= {"FID", "KID×1000", "PSNR", "n"}
    moved = sets.assign(value=np.where(sets["metric"] == "FID", sets["value"] + 1.0, sets["value"]))
    assert not compare(again, records, moved)[lambda d: d["metric"] == "FID"]["ok"].any()
    assert not compare(again, records)[lambda d: d["metric"] == "KID×1000"]["ok"].any()  # no set results: failures
