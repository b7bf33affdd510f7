"""The core's own registry entries: datasets, mask sets, report views and formats, subcommands.

Lazy ``"module:attribute"`` targets only, so reading a registry imports no more than it uses.
Metrics and profiles register beside their definitions in :mod:`harness.metrics.registry`.
"""
from harness.registry import DATASETS, MASK_SOURCES, SUBCOMMANDS

for _name, _attr in (("sample", "SAMPLE"), ("celeba", "CELEBA"), ("places2", "PLACES2"), ("dunhuang", "DUNHUANG"),
                     ("folder", "FOLDER")):
    DATASETS.add(_name, f"harness.data.datasets:{_attr}")

for _name, _attr in (("places365-val", "PLACES365_VAL"), ("places365-test30k", "PLACES365_TEST30K"),
                     ("celebahq-val", "CELEBAHQ_VAL"), ("ffhq-val", "FFHQ_VAL"), ("celebahq-lama", "CELEBAHQ_LAMA")):
    DATASETS.add(_name, f"harness.data.protocol_datasets:{_attr}")

for _name, _attr in (("generated", "GENERATED_MASKS"), ("nvidia", "NVIDIA"), ("buckets", "BUCKETS"),
                     ("folder", "FOLDER"), ("paired", "PAIRED")):
    MASK_SOURCES.add(_name, f"masks.sources:{_attr}")

#: The published generators of masks.seeded (its GENERATORS, named here so that listing them
#: imports no drawing code; tests/test_mask_protocols.py holds the two equal).
SEEDED_MASKS = (*(f"lama-{kind}-{size}" for kind in ("thin", "medium", "thick") for size in (256, 512)),
                *(f"mat-{kind}-{size}" for size in (512, 256) for kind in ("large", "small")),
                "comodgan-512", *(f"comodgan-h{k}-512" for k in range(5)))
for _name in SEEDED_MASKS:
    MASK_SOURCES.add(_name, f"masks.seeded:{_name}")

for _name in ("run", "report", "plot", "check", "compare", "cache", "list", "masks"):
    SUBCOMMANDS.add(_name, f"harness.cli.{_name}:add_parser")
