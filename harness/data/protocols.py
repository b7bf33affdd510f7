"""Published evaluation protocols by name: ``--protocol NAME`` sets what a paper fixed.

A :class:`Protocol` holds the settings of one published evaluation (dataset, size, resize,
masks, buckets, seed, metric profile, set-level metrics), each stated with its source in
docs/protocols.md. Applying it to the flags a user gave (:func:`resolve`) fills what was left
out and refuses any flag that says otherwise, so a number labelled with a protocol was made
under it. The name then travels in :attr:`harness.data.spec.RunSpec.protocol_name`: part of the
run's identity and shown with every table. Protocols are entries of
:data:`harness.registry.PROTOCOLS` (the core's in :mod:`harness.builtins`; a plug-in adds its own).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from harness.data.spec import PAPER_BUCKETS, RunSpec
from harness.errors import UsageError

#: The settings a protocol fixes: RunSpec field -> the flag that sets it.
FLAGS = {"dataset": "--dataset", "size": "--size", "resize": "--resize", "masks": "--masks",
         "buckets": "--buckets", "seed": "--seed", "profile": "--profile"}
#: Every mask of the seeded sources in one bucket (masks.seeded.WHOLE_RANGE).
WHOLE_RANGE = "0-100"
MAT_SET_METRICS = ("FID", "P-IDS", "U-IDS")


@dataclass(frozen=True)
class Protocol:
    """One published evaluation. ``masks``/``buckets`` None: the dataset's / mask set's own.
    ``set_metrics``: the set-level metrics the paper reports (names as ``--set-metrics`` takes them)."""

    name: str
    description: str
    dataset: str
    size: int
    masks: str | None
    buckets: str | None
    seed: int
    profile: str
    set_metrics: tuple[str, ...] = ()
    resize: str = "pil-bilinear"

    def settings(self) -> dict[str, Any]:
        """The RunSpec fields this protocol fixes."""
        return {name: getattr(self, name) for name in FLAGS}

    def summary(self) -> str:
        """One line for ``harness list``: what it sets."""
        sets = f", set metrics {','.join(self.set_metrics)}" if self.set_metrics else ""
        return (f"{self.description}: {self.dataset}, {self.size} px, masks {self.masks or 'default'}, "
                f"buckets {self.buckets or 'default'}, seed {self.seed}, profile {self.profile}{sets}")


def _same(field: str, given: Any, fixed: Any) -> bool:
    if field == "buckets" and given is not None and fixed is not None:
        return given.replace(" ", "") == fixed.replace(" ", "")
    return given == fixed


def resolve(name: str | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """RunSpec fields from the flags a user ``given`` (None: not given) under protocol ``name``:
    the protocol's settings where a flag was left out; RunSpec's defaults without a protocol.
    A given flag that differs from the protocol is a one-line :class:`UsageError` naming both."""
    chosen = {key: value for key, value in given.items() if value is not None}
    if name is None:
        return chosen
    protocol = get(name)
    for field, fixed in protocol.settings().items():
        if field in chosen and not _same(field, chosen[field], fixed):
            raise UsageError(f"{FLAGS[field]} {chosen[field]} contradicts --protocol {name} "
                             f"({field} {fixed if fixed is not None else 'default'}); drop {FLAGS[field]} or the protocol")
    return {**chosen, **protocol.settings(), "protocol_name": name}


def set_metrics(name: str | None, given: list[str]) -> list[str]:
    """The set-level metrics of a run: ``given`` (``--set-metrics``), else the protocol's. Under a
    protocol ``given`` may leave some out (less work, same numbers) but not add one it does not report."""
    if name is None:
        return given
    reported = get(name).set_metrics
    if not given:
        return list(reported)
    extra = [metric for metric in given if metric not in reported]
    if extra:
        raise UsageError(f"--set-metrics {','.join(given)} contradicts --protocol {name} (set metrics "
                         f"{','.join(reported) or 'none'}); drop {', '.join(extra)} or the protocol")
    return given


def spec(name: str, **given: Any) -> RunSpec:
    """The RunSpec of protocol ``name`` with the other fields ``given`` (Python's ``--protocol``:
    ``spec("mat-places512-large", data_root="~/places365")``)."""
    return RunSpec(**resolve(name, given))


def check(spec: RunSpec) -> None:
    """A spec that names a protocol has its settings (a Python caller or an expectations file
    could name one and set others): else one UsageError."""
    if spec.protocol_name is not None:
        resolve(spec.protocol_name, {f.name: getattr(spec, f.name) for f in fields(RunSpec) if f.name in FLAGS})


def get(name: str) -> Protocol:
    """The protocol registered as ``name`` ("did you mean" for an unknown one)."""
    from harness.registry import PROTOCOLS

    return PROTOCOLS.get(name)


def _misf(dataset: str, masks: str) -> Protocol:
    return Protocol(f"misf-{dataset}", f"MISF (CVPR 2022) on {dataset}", dataset, 256, masks,
                    None if masks == "paired" else PAPER_BUCKETS, 0, "paper")


def _mat(dataset: str, label: str, kind: str) -> Protocol:
    return Protocol(f"mat-{label}512-{kind}", f"MAT (CVPR 2022) {label} 512, {kind} masks", dataset, 512,
                    f"mat-{kind}-512", WHOLE_RANGE, 240, "mat", MAT_SET_METRICS)


def _lama(dataset: str, label: str, size: int, kind: str) -> Protocol:
    return Protocol(f"lama-{label}{size}-{kind}", f"LaMa (WACV 2022) {label} {size}, {kind} masks", dataset, size,
                    f"lama-{kind}-{size}", WHOLE_RANGE, 0, "lama", ("FID",))


def _comodgan(bucket: int | None) -> Protocol:
    if bucket is None:
        return Protocol("comodgan-places512", "Co-Mod-GAN (ICLR 2021) Places2 512, ids36k5", "places365-val", 512,
                        "comodgan-512", WHOLE_RANGE, 0, "paper", MAT_SET_METRICS)
    return Protocol(f"comodgan-places512-h{bucket}", f"Co-Mod-GAN (ICLR 2021) Places2 512, ids36k5-h{bucket}",
                    "places365-val", 512, f"comodgan-h{bucket}-512", WHOLE_RANGE, 0, "paper", MAT_SET_METRICS)


#: The core's protocols, registered by harness.builtins (facts and sources: docs/protocols.md).
BUILTIN: tuple[Protocol, ...] = (
    _misf("celeba", "nvidia"), _misf("places2", "nvidia"), _misf("dunhuang", "paired"),
    *(_mat(dataset, label, kind) for dataset, label in (("places365-val", "places"), ("celebahq-val", "celebahq"))
      for kind in ("large", "small")),
    *(_lama("places365-test30k", "places", 512, kind) for kind in ("thick", "medium", "thin")),
    *(_lama("celebahq-lama", "celebahq", 256, kind) for kind in ("thick", "medium", "thin")),
    _comodgan(None), *(_comodgan(k) for k in range(5)),
)
