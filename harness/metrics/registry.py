"""Metrics and metric profiles by name: what each one is, without importing torch.

A :class:`Metric` carries everything the rest of the harness needs to know about a number:
the column it fills, its better direction, the digits tables print, the tolerance of the
regression check, the difference that counts as meaningful when comparing with a paper, what
it needs (the float composite, the profile's quantised composite, a model, set-level
features), and the version of its code (part of every cached metric's key). The computation
itself is a lazy ``"module:attribute"``: listing metrics, rendering tables and ``--help``
import no torch.

A :class:`Profile` is one codebase's convention: a quantisation/colour step plus a tuple of
metrics. Profiles really change the computation, and each names the reference code it
reproduces. Both live in registries of :mod:`harness.registry`: plug-ins add metrics or profiles with
:func:`register_metric` / :func:`register_profile` or entry points in the groups
``inpainting_harness.metrics`` and ``inpainting_harness.profiles`` (named by the metric's key
or the profile's name); a second, different registration of a name is an error.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from harness.errors import UnknownName
from harness.registry import Registry, import_target

ITEM, SET = "item", "set"


@dataclass(frozen=True)
class Metric:
    key: str  # unique id, e.g. "paper.PSNR"
    name: str  # the column it fills, e.g. "PSNR" (one column means one direction and one precision)
    higher_is_better: bool
    digits: int
    tolerance: float  # |difference| the regression check accepts (numerical noise)
    #: |measured − published| still counted as reproduced. For the paper's metrics: roughly the gap
    #: between MISF and the runner-up in Table 2 (a larger deviation could change the paper's
    #: conclusions) and above the bootstrap 95 % half-width of a cell of about 1,000 images.
    meaningful: float
    implementation: str  # "module:attribute": fn(views) -> values, or with "model" in needs a factory(device, files)
    #: of "float", "quantised", "model", "features", and "conv" (float32 convolutions on the device)
    needs: tuple[str, ...] = ("quantised",)
    kind: str = ITEM  # ITEM: one value per image; SET: one value per bucket, from features
    version: int = 1
    description: str = ""
    #: The same metric as the reference code computes it (scikit-image), run when asked for
    #: (``--metrics-device cpu``); ``implementation`` runs on any device and equals it to 1e-10 (tests).
    reference: str = ""
    #: The torchvision backbone of a network metric (LPIPS: "vgg" or "alex"), for ``harness list``.
    backbone: str = ""

    @property
    def runs_with_the_model(self) -> bool:
        """A network or float32 convolutions on the device: TF32 must be off, and TF32's switch is
        process-wide, so it runs in the thread that runs the predictor, never beside it."""
        return "model" in self.needs or "conv" in self.needs

    def load(self, reference: bool = False) -> Any:
        return import_target(self.reference if reference and self.reference else self.implementation)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    quantise: str  # "module:function": (composite, truth) float [B,3,H,W] -> what its metrics read
    metrics: tuple[str, ...]  # metric keys
    reference: str = ""  # the upstream code it reproduces
    quantise_version: int = 1
    #: The profile's own set-level metrics (keys), chosen by column name under this profile
    #: (``--set-metrics FID`` with ``--profile mat`` is ``mat.FID``); empty: the shared ``set.*`` ones.
    set_metrics: tuple[str, ...] = ()
    #: "module:factory": factory(device, files) -> the feature extractor its set-level metrics read
    features: str = ""

    def metric_objects(self) -> tuple[Metric, ...]:
        return tuple(get_metric(key) for key in self.metrics)

    @property
    def version(self) -> str:
        """Hash of the quantisation step's and every metric's version: any bump gives new cache keys."""
        parts = [self.name, self.quantise, self.quantise_version, [(m.key, m.version) for m in self.metric_objects()]]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:10]

    @property
    def cache_name(self) -> str:
        return f"{self.name}-{self.version}"

    def convention(self) -> dict[str, Any]:
        """What is written into every result: the profile and each metric's description and version."""
        return {
            "name": self.name, "description": self.description, "reference": self.reference, "version": self.version,
            "quantise": self.quantise, "metrics": [{k: v for k, v in asdict(m).items() if k != "implementation"}
                                                   for m in self.metric_objects()],
        }


_COLUMNS: dict[str, Metric] = {}  # column name → its first metric (direction and digits agree)


def _check_metric(key: str, metric: Metric) -> None:
    """The same key twice with other fields, or one column with two directions or precisions, is an
    error (two meanings must never share a column unannounced)."""
    if not isinstance(metric, Metric) or metric.key != key:
        raise ValueError(f"metric '{key}' must be a Metric whose key is '{key}'")
    column = _COLUMNS.get(metric.name)
    if column is not None and (column.higher_is_better, column.digits) != (metric.higher_is_better, metric.digits):
        raise ValueError(f"metric '{metric.key}' fills column {metric.name} with another direction or precision than '{column.key}'")
    _COLUMNS.setdefault(metric.name, metric)


def _check_profile(name: str, profile: Profile) -> None:
    if not isinstance(profile, Profile) or profile.name != name:
        raise ValueError(f"profile '{name}' must be a Profile named '{name}'")
    missing = [key for key in (*profile.metrics, *profile.set_metrics) if key not in METRICS.items]
    if missing:
        raise ValueError(f"profile '{profile.name}' names unknown metric(s): {', '.join(missing)}")


METRICS = Registry("metric", "inpainting_harness.metrics", _check_metric)
PROFILES = Registry("metric profile", "inpainting_harness.profiles", _check_profile)
_METRICS: dict[str, Metric] = METRICS.items
_PROFILES: dict[str, Profile] = PROFILES.items


def register_metric(metric: Metric) -> Metric:
    """Add a metric (see :func:`_check_metric` for what clashes)."""
    return METRICS.add(metric.key, metric)


def register_profile(profile: Profile) -> Profile:
    return PROFILES.add(profile.name, profile)


def _plugins() -> None:
    """Every metric and profile loaded (plug-ins' lazy targets included), so columns are complete."""
    METRICS.all()
    PROFILES.all()


def get_metric(key: str) -> Metric:
    return METRICS.get(key)


def set_metric(name: str, profile: str | None = None) -> Metric:
    """A set-level metric by column name (FID, KID×1000, P-IDS, U-IDS) or key: ``profile``'s own
    version where it has set-level metrics (only those), else the shared ones."""
    _plugins()
    own = get_profile(profile).set_metrics if profile else ()
    owned = {key for p in _PROFILES.values() for key in p.set_metrics}
    candidates = [_METRICS[key] for key in own] if own else [
        m for m in _METRICS.values() if m.kind == SET and m.key not in owned]
    found = [m for m in candidates if name in (m.name, m.key, m.name.split("×")[0], m.name.split(".", 1)[-1])]
    if not found:
        where = f" under profile {profile}" if own else ""
        raise UnknownName(f"unknown set-level metric '{name}'{where}; known: {', '.join(m.name for m in candidates)}"
                          + ("" if own else " (a profile's own set-level metrics need that --profile)"))
    return found[0]


def get_profile(name: str) -> Profile:
    return PROFILES.get(name)


def profiles() -> dict[str, Profile]:
    _plugins()
    return dict(_PROFILES)


def metrics() -> dict[str, Metric]:
    _plugins()
    return dict(_METRICS)


def column(name: str) -> Metric:
    """The metric that defines a column's direction, digits and tolerances."""
    _plugins()
    if name not in _COLUMNS:
        raise KeyError(f"unknown metric column '{name}'")
    return _COLUMNS[name]


def metric_columns(columns: Iterable[str]) -> list[str]:
    """The metric columns among ``columns``, in registration order (PSNR, SSIM, L1, LPIPS, ...)."""
    _plugins()
    present = set(columns)
    return [name for name in _COLUMNS if name in present]


def higher_is_better(name: str) -> bool:
    return column(name).higher_is_better


def digits(name: str) -> int:
    return column(name).digits


# --- built-in metrics -------------------------------------------------------------------------

_F = "harness.metrics.functional"
PAPER_METRICS = tuple(register_metric(m) for m in (
    Metric("paper.PSNR", "PSNR", True, 3, 0.01, 0.3, f"{_F}:psnr_torch", reference=f"{_F}:psnr_uint8", description=
           "skimage peak_signal_noise_ratio on the uint8 composite, data_range 255, RGB, whole image, capped at 100"),
    Metric("paper.SSIM", "SSIM", True, 4, 1e-4, 0.005, f"{_F}:ssim_torch", version=2, reference=f"{_F}:ssim_uint8", description=
           "skimage structural_similarity defaults on uint8: 7x7 uniform window, sample covariance, K1 0.01, K2 0.03, "
           "data_range 255, mean over RGB (and over the map cropped by 3 px)"),
    Metric("paper.L1", "L1", False, 3, 0.005, 0.1, f"{_F}:l1_percent", version=2, needs=("float",), description=
           "mean absolute error over the whole float composite in [0,1], x100"),
    Metric("paper.LPIPS", "LPIPS", False, 4, 1e-3, 0.01, "harness.metrics.lpips_model:lpips_vgg_float",
           needs=("float", "model"), backbone="vgg", description="lpips 0.1.4 LPIPS(net='vgg', version='0.1') on 2x-1 of the float composite"),
))
HOLE_METRICS = tuple(register_metric(m) for m in (
    Metric("hole.PSNR", "PSNR (hole)", True, 3, 0.01, 0.3, f"{_F}:psnr_hole_uint8", description=
           "PSNR over the hole pixels only (all channels): 10 log10(255^2 / MSE) on the uint8 composite, capped at 100"),
    Metric("hole.L1", "L1 (hole)", False, 3, 0.005, 0.1, f"{_F}:l1_hole_percent", version=2, needs=("float",), description=
           "mean absolute error over the hole pixels only (all channels) of the float composite in [0,1], x100"),
))

_S = "harness.metrics.setlevel"
#: Set-level metrics: one value per bucket from per-item Inception features of the truncated uint8
#: composite and of the ground truth (any profile; the features are what LaMa's and MAT's scripts
#: read from their saved PNGs). Selected per run (``--set-metrics``), not part of a profile.
SET_METRICS = tuple(register_metric(m) for m in (
    Metric("set.FID", "FID", False, 3, 0.05, 1.0, f"{_S}:fid", needs=("features",), kind=SET, description=
           "Frechet distance of Inception pool features (torch-fidelity 0.4.0 statistics, N-1 covariance); biased "
           "below 2,048 items"),
    Metric("set.KID", "KID×1000", False, 3, 0.05, 1.0, f"{_S}:kid", needs=("features",), kind=SET, description=
           "kernel inception distance x1000: unbiased MMD^2, cubic polynomial kernel, 100 subsets of up to 1,000 "
           "(torch-fidelity 0.4.0), seed 0"),
    Metric("set.P-IDS", "P-IDS", True, 4, 1e-3, 0.01, f"{_S}:p_ids", needs=("features",), kind=SET, description=
           "paired inception discriminative score (MAT): share of pairs whose fake outscores its real under a "
           "LinearSVC(dual=False) fit on real vs fake features"),
    Metric("set.U-IDS", "U-IDS", True, 4, 1e-3, 0.01, f"{_S}:u_ids", needs=("features",), kind=SET, description=
           "unpaired inception discriminative score (MAT): that SVM's misclassification rate"),
))

register_profile(Profile(
    "paper", "official MISF test code (src/misf.py metric(), scikit-image 0.18 defaults, lpips 0.1.4)",
    f"{_F}:truncate_uint8", tuple(m.key for m in PAPER_METRICS),
    reference="tsingqguo/misf src/misf.py test() and metric(): composite clamped, x255 in float32, uint8 truncation",
))
register_profile(Profile(
    "hole", "the paper's quantisation, errors inside the holes only (papers that report hole-only L1/PSNR)",
    f"{_F}:truncate_uint8", tuple(m.key for m in HOLE_METRICS),
    reference="hole-only variant of the paper profile; no single upstream reference",
))

# --- lama and edgeconnect profiles: other codebases' conventions, reproduced exactly ------------
# Shared columns keep the paper's direction and digits (enforced above) and the same tolerance:
# check reads a column's tolerance from its first metric. The float32 noise these profiles
# reproduce (~1e-6 on SSIM, conv2d on CPU vs GPU) is far below it. "meaningful" follows the
# paper's metrics for the shared columns (same kind of gap between methods).

_LAMA, _EC = "harness.metrics.lama", "harness.metrics.edgeconnect"
LAMA_METRICS = tuple(register_metric(m) for m in (
    Metric("lama.SSIM", "SSIM", True, 4, 1e-4, 0.005, f"{_LAMA}:ssim", needs=("quantised", "conv"), description=
           "LaMa losses/ssim.py on the PNG-quantised composite /255: 11x11 Gaussian (sigma 1.5) float32 window, "
           "conv2d with zero padding 5 per channel, E[x^2]-mu^2, C1 0.01^2, C2 0.03^2, full-map mean, float32, no TF32"),
    Metric("lama.LPIPS", "LPIPS", False, 4, 1e-3, 0.01, f"{_LAMA}:lpips_vgg", needs=("quantised", "model"), backbone="vgg",
           description=
           "LaMa LPIPSScore: lpips net-lin VGG v0.1 (LaMa's vgg.pth = lpips 0.1.4's) on 2x-1 of the PNG-quantised "
           "composite and truth, whole image"),
))
EDGECONNECT_METRICS = tuple(register_metric(m) for m in (
    Metric("edgeconnect.PSNR", "PSNR", True, 3, 0.01, 0.3, f"{_EC}:psnr", description=
           "EdgeConnect scripts/metrics.py compare_psnr(data_range=1) on rgb2gray of the saved (truncated) PNG /255 "
           "in float32, whole image; capped at 100 like the column (upstream has no cap: inf for identical images)"),
    Metric("edgeconnect.SSIM", "SSIM", True, 4, 1e-4, 0.005, f"{_EC}:ssim", description=
           "EdgeConnect compare_ssim(data_range=1, win_size=51) on the grey images: 51x51 uniform window, sample "
           "covariance, K1 0.01, K2 0.03, map cropped by 25 px, float64 (skimage 0.14)"),
    # A new column: a relative L1 (fraction), not comparable with L1. Float32 sums over 65k pixels are
    # exact to ~1e-7 of the value; 1e-5 absolute is noise. 0.001 (0.1 percentage points) is about the
    # smallest gap between methods in EdgeConnect's Table 1 (which prints it x100 as "l1 (%)").
    Metric("edgeconnect.MAE", "MAE (rel)", False, 4, 1e-5, 0.001, f"{_EC}:mae", description=
           "EdgeConnect compare_mae: sum|gt-pred| / sum(gt+pred) on the grey float32 images, a fraction (not x100)"),
))

register_profile(Profile(
    "lama", "LaMa bin/predict.py + bin/evaluate_predicts.py: truncated uint8 PNG composite re-read /255; SSIM and LPIPS",
    f"{_LAMA}:saved_png_float", tuple(m.key for m in LAMA_METRICS),
    reference="advimman/lama 786f593: bin/predict.py l.86-94, saicinpainting/evaluation/data.py l.12-20 and l.110-124, "
              "bin/evaluate_predicts.py l.19-23, saicinpainting/evaluation/losses/ssim.py, losses/base_loss.py l.92-118, "
              "losses/lpips.py (no PSNR or L1 in LaMa's evaluator; FID, a set-level score, not included)",
))
register_profile(Profile(
    "edgeconnect", "EdgeConnect scripts/metrics.py on its saved outputs: truncated PNG, greyscale, PSNR, SSIM win 51, relative MAE",
    f"{_EC}:saved_png_grey", tuple(m.key for m in EDGECONNECT_METRICS),
    reference="knazeri/edge-connect 3142579: src/edge_connect.py test() l.322-334 and postprocess l.411-415, "
              "src/utils.py imsave l.51-53, scripts/metrics.py l.22-25 and l.46-63; scikit-image ~= 0.14 semantics",
))

# --- mat profile: MAT's evaluatoin/ scripts (harness.metrics.mat) ------------------------------
# The item metrics fill the shared columns (MAT's SSIM, L1 and LPIPS are other conventions of the
# same quantities). Its FID / P-IDS / U-IDS get their own columns, mat.FID, ...: MAT's features
# (NVIDIA's wrapper, rounded composite) and 1/N statistics are not torch-fidelity's, and two
# conventions' FIDs must never share a column. Tolerances follow the shared columns.

_MAT = "harness.metrics.mat"
MAT_METRICS = tuple(register_metric(m) for m in (
    Metric("mat.PSNR", "PSNR", True, 3, 0.01, 0.3, f"{_F}:psnr_torch", description=
           "MAT cal_psnr_ssim_l1.py on the rounded uint8 composite: float64 MSE over all pixels and channels, "
           "20 log10(255/sqrt(MSE)), capped at 100 (MAT: inf for identical images)"),
    Metric("mat.SSIM", "SSIM", True, 4, 1e-4, 0.005, f"{_MAT}:ssim", description=
           "MAT cal_psnr_ssim_l1.py: 11x11 Gaussian window (cv2.getGaussianKernel(11, 1.5)), filter2D maps cropped "
           "by 5 px, biased variances, C1 (0.01*255)^2, C2 (0.03*255)^2, mean over the HxWx3 map, float64"),
    Metric("mat.L1", "L1", False, 3, 0.005, 0.1, f"{_MAT}:l1_percent", description=
           "MAT cal_psnr_ssim_l1.py: mean |a-b|/255 over all pixels and channels of the rounded uint8 images, "
           "float64, x100 (MAT prints the fraction)"),
    Metric("mat.LPIPS", "LPIPS", False, 4, 1e-3, 0.01, f"{_MAT}:lpips_alex", needs=("quantised", "model"), backbone="alex",
           description=
           "MAT cal_lpips.py: lpips 0.1.4 LPIPS(net='alex', version='0.1') on uint8/127.5-1 of the rounded images"),
))
MAT_SET_METRICS = tuple(register_metric(m) for m in (
    Metric("mat.FID", "mat.FID", False, 3, 0.05, 1.0, f"{_MAT}:fid", needs=("features",), kind=SET, description=
           "MAT cal_fid_pids_uids.py: NVIDIA Inception wrapper features of the rounded uint8 composite at native "
           "size, 1/N covariances, scipy.linalg.sqrtm"),
    Metric("mat.P-IDS", "mat.P-IDS", True, 4, 1e-3, 0.01, f"{_S}:p_ids", needs=("features",), kind=SET, description=
           "MAT cal_fid_pids_uids.py: share of pairs (by index) whose fake outscores its real under "
           "LinearSVC(dual=False) fit on MAT's features"),
    Metric("mat.U-IDS", "mat.U-IDS", True, 4, 1e-3, 0.01, f"{_S}:u_ids", needs=("features",), kind=SET, description=
           "MAT cal_fid_pids_uids.py: 1 - training accuracy of that SVM"),
))
register_profile(Profile(
    "mat", "MAT evaluatoin/ scripts: rounded uint8 PNG composite; PSNR, Gaussian SSIM, L1, LPIPS AlexNet; FID/P-IDS/U-IDS",
    f"{_MAT}:rounded_uint8", tuple(m.key for m in MAT_METRICS),
    reference="fenglinglwb/MAT d273d89: generate_image.py l.150-152, evaluatoin/cal_psnr_ssim_l1.py, "
              "evaluatoin/cal_lpips.py, evaluatoin/cal_fid_pids_uids.py (no KID)",
    set_metrics=tuple(m.key for m in MAT_SET_METRICS), features=f"{_MAT}:features",
))
