"""One typed, frozen configuration of a run, built in one place and handed down.

The command line builds it from its flags and :class:`harness.environment.Environment` (read once
at the edge); Python callers build it with :meth:`RunConfig.of`. The engine
(:func:`harness.engine.runner.run`) takes this one object and reads nothing from the environment.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from harness.data.spec import RunSpec
from harness.errors import UsageError
from harness.environment import Environment, home_cache
from harness.labels import check_label
from harness.registry import predictions_folder
from harness.metrics.model_files import ModelFiles

if TYPE_CHECKING:
    from harness.engine.execution import Execution

@dataclass(frozen=True)
class MethodRequest:
    """One method entry of a run: the label its results go under, the registered name or
    ``pkg.module:factory``, and its checkpoint."""

    label: str
    method: str
    checkpoint: str | None = None


def parse_methods(entries: Sequence[str | MethodRequest], checkpoints: dict[str, str] | None = None) -> list[MethodRequest]:
    """``"method"`` or ``"label=method"`` entries; checkpoints are looked up by label, then by method."""
    checkpoints = checkpoints or {}
    requests = []
    for entry in entries:
        if isinstance(entry, MethodRequest):
            requests.append(entry)
            continue
        label, sep, method = entry.partition("=")
        label, method = (label.strip(), method.strip()) if sep else (entry.strip(), entry.strip())
        if not label or not method:
            raise ValueError(f"bad method entry {entry!r}: use METHOD or LABEL=METHOD")
        if predictions_folder(method) is not None and (not sep or not predictions_folder(method)):
            raise ValueError(f"bad method entry {entry!r}: a folder of predictions is given as LABEL=predictions:DIR")
        if sep or ":" not in method:  # a bare plug-in gets its label from its predictor (plugin_label)
            check_label(label)
        requests.append(MethodRequest(label, method, checkpoints.get(label, checkpoints.get(method))))
    labels = [r.label for r in requests]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"method label(s) {', '.join(twice)} given twice; name each entry (LABEL=METHOD)")
    return requests


def parse_checkpoints(values: list[str] | None, names: list[str]) -> dict[str, str]:
    """``--checkpoint PATH`` (every method) or ``--checkpoint NAME=PATH`` (a label or a method; repeatable)."""
    result: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if sep and name in names:
            result[name] = path
        elif sep and "/" not in name and ":" not in name and not Path(value).exists():
            raise UsageError(f"--checkpoint {value}: '{name}' is not a method or label of this run "
                             f"({', '.join(dict.fromkeys(names))})")
        else:
            result.update({m: value for m in names if m not in result})
    return result


@dataclass(frozen=True)
class ExecutionConfig:
    """How the run computes: devices (resolved once), batching, arithmetic, what the cache keeps."""

    device: str | None = None
    metrics_device: str | None = None
    batch_size: int | None = None  # None: per device
    workers: int | None = None  # None: per device
    execution: "Execution | None" = None  # None: fp32, no TF32, eager
    keep: str = "holes"  # what the cache keeps of each prediction: holes, full, none
    strict: bool = False
    replace: bool = False
    rescore: bool = False
    name_plugins: bool = False
    #: This process's part of a run shared with others (harness.engine.distributed); None: all of it
    #: (``Shard(0, 1)``, the one-shard case).
    shard: Any = None
    wait: bool = True  # for another process computing the same work; False: stop with exit code 2 (--no-wait)


#: Set-level state (--set-state), its default sample size per bucket (--set-sample) and smallest one
#: (harness.metrics.setsizes.MIN_SET_ITEMS: below it no set-level value is computed).
SET_STATES = ("features", "sums")
SET_SAMPLE = 10_000
MIN_SAMPLE = 5


@dataclass(frozen=True)
class ScoringConfig:
    """What is scored: the profile's item metrics (None: all), set-level metrics and model files."""

    metrics: tuple[str, ...] | None = None
    set_metrics: tuple[str, ...] = ()
    set_bootstrap: int = 50
    models: ModelFiles = ModelFiles()  # LPIPS's backbone, the offline Inception trunk
    inception_weights: Path | None = None
    extractor: Any = None  # a feature extractor instead of Inception (tests, plug-ins)
    without_lpips: bool = False  # --no-lpips: every metric of the profile but LPIPS
    #: What the set-level metrics keep per item: "features" (every scored item's) or "sums" (exact
    #: sums of all, the features of a sample of ``set_sample`` per bucket: docs/set-state.md).
    set_state: str = "features"
    set_sample: int = SET_SAMPLE

    def __post_init__(self) -> None:
        if self.set_state not in SET_STATES:
            raise UsageError(f"set-state '{self.set_state}': use one of {', '.join(SET_STATES)}")
        if self.set_sample < MIN_SAMPLE:
            raise UsageError(f"--set-sample {self.set_sample}: the sample needs at least {MIN_SAMPLE} items per bucket")

    @property
    def sample(self) -> int | None:
        """The sample size of set-state sums; None: set-state features (every item's features)."""
        return self.set_sample if self.set_state == "sums" else None

    def item_metrics(self, profile: str) -> tuple[str, ...] | None:
        """The item metrics scored under ``profile`` (None: all of them)."""
        if not self.without_lpips:
            return self.metrics
        from harness.metrics import get_profile

        names = [m.name for m in get_profile(profile).metric_objects() if "LPIPS" not in m.name]
        return tuple(n for n in names if self.metrics is None or n in self.metrics)


@dataclass(frozen=True)
class OutputConfig:
    """Where results go, what is shown, and the folders the environment names for the data."""

    runs_root: Path = Path("runs")
    cache_root: Path = field(default_factory=home_cache)
    progress: bool = True
    #: The data and mask folders the environment names ($HARNESS_DATA_<NAME>, $HARNESS_NVIDIA_MASKS).
    roots: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """A run: the protocol, the methods (labels, checkpoints, options), execution, scoring, output."""

    spec: RunSpec
    methods: tuple[MethodRequest, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    execution: ExecutionConfig = ExecutionConfig()
    scoring: ScoringConfig = ScoringConfig()
    output: OutputConfig = OutputConfig()

    @classmethod
    def of(cls, spec: RunSpec, methods: Any, environment: Environment | None = None, *,
           checkpoints: Mapping[str, str] | None = None, options: Mapping[str, Any] | None = None,
           out: Path | str | None = None, progress: bool = False, **settings: Any) -> "RunConfig":
        """A configuration from Python: ``methods`` as ``["telea", "label=method"]`` entries, the
        roots and model files from ``environment`` (default: the process's, read once here), and
        any field of the execution or scoring parts by name (``batch_size=2``, ``set_metrics=...``;
        under ``spec.protocol_name`` the protocol's set-level metrics unless given)."""
        env = environment or Environment.read()
        parts = {ExecutionConfig: {}, ScoringConfig: {}}
        for name, value in settings.items():
            part = next((p for p in parts if name in p.__dataclass_fields__), None)
            if part is None:
                raise TypeError(f"RunConfig.of got an unknown setting '{name}'")
            parts[part][name] = value
        scoring = parts[ScoringConfig]
        if spec.protocol_name is not None:  # a published protocol's set-level metrics unless chosen
            from harness.data.protocols import set_metrics

            scoring["set_metrics"] = tuple(set_metrics(spec.protocol_name, list(scoring.get("set_metrics", ()))))
        scoring.setdefault("models", env.model_files())
        scoring.setdefault("inception_weights", env.inception_weights)
        return cls(spec, tuple(parse_methods(methods, dict(checkpoints or {}))), dict(options or {}),
                   ExecutionConfig(**parts[ExecutionConfig]), ScoringConfig(**scoring),
                   OutputConfig(Path(out) if out else env.runs_root, env.cache_root, progress, env.roots))
