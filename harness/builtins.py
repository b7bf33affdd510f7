"""The core's own registry entries: datasets, mask sets, report views and formats, subcommands.

Lazy ``"module:attribute"`` targets only, so reading a registry imports no more than it uses.
Metrics and profiles register beside their definitions in :mod:`harness.metrics.registry`.
"""
from harness.registry import DATASETS, MASK_SOURCES, SUBCOMMANDS

for _name, _attr in (("sample", "SAMPLE"), ("celeba", "CELEBA"), ("places2", "PLACES2"), ("dunhuang", "DUNHUANG"),
                     ("folder", "FOLDER")):
    DATASETS.add(_name, f"harness.data.datasets:{_attr}")

for _name, _attr in (("generated", "GENERATED_MASKS"), ("nvidia", "NVIDIA"), ("buckets", "BUCKETS"),
                     ("folder", "FOLDER"), ("paired", "PAIRED")):
    MASK_SOURCES.add(_name, f"masks.sources:{_attr}")

for _name in ("run", "report", "plot", "check", "compare", "cache", "list"):
    SUBCOMMANDS.add(_name, f"harness.cli.{_name}:add_parser")
