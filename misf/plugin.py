"""MISF's entries in the harness registries: its methods, the paper's report views and the
``train`` and ``fig7`` subcommands. Lazy targets only (nothing here imports torch).

The harness imports this module when a registry is first read (:data:`harness.registry.BUILTIN_PLUGINS`).
"""
from harness.registry import HTML_SECTIONS, REPORT_VIEWS, SUBCOMMANDS, CodeVersion, register_method

_METHODS = {
    "misf": "MISF (Li et al. CVPR 2022), official generator; option dataset=celeba|places2|dunhuang",
    "misf-img-filter": "MISF ablation Img-Filter (Table 3): filters the corrupted image only",
    "misf-sem-filter-f1": "MISF ablation Sem-Filter at F1 (Table 4)",
    "misf-sem-filter-f2": "MISF ablation Sem-Filter at F2 (Table 4)",
    "misf-sem-filter-f3": "MISF ablation Sem-Filter at F3 (Tables 3, 4)",
    "misf-en-decoder": "MISF ablation En-decoder (Table 3): no dynamic filtering",
    "misf-en-decoder-filter": "MISF ablation En-decoder-Filter (Table 3): image filtering of the output",
}
#: One code for MISF and its variants (configurations of the same networks).
CODE_VERSION = CodeVersion("misf and variants", "misf.predictor:MISFPredictor.code_version",
                           ("misf.predictor", "misf.networks", "misf.filtering"))
for _name, _description in _METHODS.items():
    register_method(_name, f"misf.predictor:{_name.replace('-', '_')}", description=_description,
                    weights="misf.weights:WEIGHTS",
                    tags=("misf", "misf-table") if _name == "misf" else ("misf", "ablation"), code_version=CODE_VERSION)

#: The paper's tables as views paper-table2..4; ``--paper TABLE`` is the older flag for them.
_PAPER_ALIAS = ("--paper", {"choices": ["table2", "table3", "table4"], "help": "--view paper-TABLE"}, "paper-{}")
for _table, _what in (("table2", "comparison with the baselines"), ("table3", "ablation"),
                      ("table4", "Sem-Filter's deep features")):
    REPORT_VIEWS.add(f"paper-{_table}", f"misf.paper.views:{_table}", options=("extra_methods",), alias=_PAPER_ALIAS,
                     published=True,  # shows the published values without any run
                     help=f"the paper's {_table.replace('table', 'Table ')} ({_what}), measured beside published")
REPORT_VIEWS.add("reproduction", "misf.paper.views:reproduction",
                 help="measured - published per cell, tolerances, the paper's relative claims",
                 alias=("--reproduction", {"action": "store_true", "help": "--view reproduction"}, "reproduction"))
HTML_SECTIONS.add("paper", "misf.paper.views:html_paper_tables")
HTML_SECTIONS.add("fig7", "misf.fig7_files:read_fig7")
SUBCOMMANDS.add("train", "misf.paper.train_command:add_train_parser")
SUBCOMMANDS.add("fig7", "misf.paper.fig7_command:add_parser")
