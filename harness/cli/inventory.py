"""What the harness knows and what is present on this machine (``harness list``)."""
from __future__ import annotations

from tabulate import tabulate

from harness.data.datasets import datasets
from harness.environment import Environment
from harness.metrics import profiles
from harness.metrics.inception_trunk import trunk_status
from harness.metrics.lpips_model import backbone_status
from harness.registry import PROTOCOLS, methods
from harness.data.mask_sets import mask_sources


def _weights_status(entry, weights_dir) -> str:
    if entry.weights is None:
        return "no weights needed" if "classical" in entry.tags else "-"
    present = [name for name in entry.weights.file_names if (weights_dir / name).is_file()]
    return "present" if len(present) == len(entry.weights.file_names) else f"missing ({', '.join(entry.weights.file_names)})"


def inventory_tables(env: Environment) -> list[tuple[str, str]]:
    """The tables of ``harness list``, with what ``env`` (read by the command line) points at."""
    method_rows = [[name, entry.description, _weights_status(entry, env.weights_dir)]
                   for name, entry in sorted(methods().items())]
    files = env.model_files()
    trunk = trunk_status(files.inception_trunk)
    profile_rows = [[p.name, p.description, "; ".join(
        [f"{backbone_status(net, files)} ({net})" for net in dict.fromkeys(m.backbone for m in p.metric_objects() if m.backbone)]
        + [trunk] * bool(p.features)) or "ready"]
        for p in profiles().values()]
    return [
        (f"Methods (weights folder: {env.weights_dir})", tabulate(method_rows, ["method", "description", "weights"])),
        ("Datasets", tabulate([[d.name, d.layout, d.status(env)] for d in datasets().values()], ["dataset", "layout", "here"])),
        ("Mask sets", tabulate([[m.name, m.description, m.status(env.roots)] for m in mask_sources().values()],
                               ["mask set", "description", "here"])),
        ("Metric profiles", tabulate(profile_rows, ["profile", "convention", "here"])),
        ("Set-level metrics (FID, KID, P-IDS, U-IDS)", tabulate([["Inception features", trunk]], ["needs", "here"])),
        ("Published protocols (--protocol NAME; docs/protocols.md)",
         tabulate([[name, PROTOCOLS.info[name].get("description", "")] for name in PROTOCOLS], ["protocol", "sets"])),
    ]
