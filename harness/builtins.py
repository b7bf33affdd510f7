"""The core's own registry entries: datasets, mask sets, published protocols, report views and
formats, subcommands.

Lazy ``"module:attribute"`` targets (the protocols are plain data), so reading a registry imports
no more than it uses.
Metrics and profiles register beside their definitions in :mod:`harness.metrics.registry`.
"""
from harness.data import protocols
from harness.registry import DATASETS, HTML_SECTIONS, MASK_SOURCES, PROTOCOLS, REPORT_FORMATS, REPORT_VIEWS, SUBCOMMANDS
from harness.reports import styles

for _name, _attr in (("sample", "SAMPLE"), ("celeba", "CELEBA"), ("places2", "PLACES2"), ("dunhuang", "DUNHUANG"),
                     ("folder", "FOLDER")):
    DATASETS.add(_name, f"harness.data.datasets:{_attr}")

for _name, _attr in (("places365-val", "PLACES365_VAL"), ("places365-test30k", "PLACES365_TEST30K"),
                     ("celebahq-val", "CELEBAHQ_VAL"), ("ffhq-val", "FFHQ_VAL"), ("celebahq-lama", "CELEBAHQ_LAMA")):
    DATASETS.add(_name, f"harness.data.protocol_datasets:{_attr}")
DATASETS.add("shards", "harness.data.shards:SHARDS")  # tar shards: --data-root PATTERN or URL

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

for _protocol in protocols.BUILTIN:  # plain data (no lazy target needed): harness.data.protocols imports nothing heavy
    PROTOCOLS.add(_protocol.name, _protocol, description=_protocol.summary())

for _name in ("run", "report", "plot", "check", "compare", "cache", "list", "masks", "reduce", "export", "shards"):
    SUBCOMMANDS.add(_name, f"harness.cli.{_name}:add_parser")

for _name, _help, _options, _alias in (
    ("results", "one table per run: methods × bucket n, failures, metric means, best bold (default); --compact: "
     "n and failures in a note instead of columns", ("combine", "compact"), None),
    ("wide", "paper layout, one table per run: methods × (metric, bucket) means, n and failures in a note", ("combine",),
     None),
    ("confidence", "per cell: images, failures and the bootstrap 95% interval of the mean", (),
     ("--confidence", {"action": "store_true", "help": "--view confidence"}, "confidence")),
    ("paired", "paired test of the two methods of --paired A,B per metric and bucket", ("pair",),
     ("--paired", {"metavar": "A,B", "help": "the pair of methods: the paired view (alone: --view paired) and, "
                   "with --format html, the pair the report shows first"}, "paired")),
    ("profiles", "the same items under the metric profiles of --profiles A,B, side by side", ("profiles",),
     ("--profiles", {"metavar": "A,B", "help": "the metric profiles of the profiles view (alone: --view profiles)"},
      "profiles")),
):
    REPORT_VIEWS.add(_name, f"harness.reports.views:{_name}", help=_help, options=_options, alias=_alias)
REPORT_VIEWS.add("hole-ratios", "harness.reports.hole_ratios:view",
                 help="per run: items per tenth of hole ratio (each item's mask as scored)")
HTML_SECTIONS.add("hole-ratios", "harness.reports.hole_ratios:html_section")

styles.register(REPORT_FORMATS)
