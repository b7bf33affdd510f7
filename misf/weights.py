"""Where MISF and its ablation variants get their weights (cheap to import: no model code).

Facts from docs/misf.md §11: the official generator files sit in one Google Drive folder (the README
links it for CelebA, Places2 and Dunhuang); the Places2 file is also a plain git blob at the
official commit, and the CelebA file was one briefly (commit d0f292f). The variants of Tables 3
and 4 were never released (docs/misf.md §15) and must be trained with this harness.
"""
from __future__ import annotations

from harness.checkpoints import WeightsInfo

DATASETS = ("celeba", "places2", "dunhuang")
GOOGLE_DRIVE_FOLDER = "https://drive.google.com/drive/folders/14QVgtG5nbk5e00QRqEJBlBM5Q-aHF5Bd"
PLACES2_RAW_URL = "https://raw.githubusercontent.com/tsingqguo/misf/main/checkpoints/places2_InpaintingModel_gen.pth"

#: Official generator file per dataset. The Dunhuang name is not published (unconfirmed guess).
OFFICIAL_FILES = {
    "celeba": "celebA_InpaintingModel_gen.pth",
    "places2": "places2_InpaintingModel_gen.pth",
    "dunhuang": "dunhuang_InpaintingModel_gen.pth",
}

MISF_WEIGHTS = WeightsInfo(
    method="misf",
    file_names=tuple(OFFICIAL_FILES.values()),
    source=(
        f"Google Drive folder {GOOGLE_DRIVE_FOLDER} (CelebA, Places2, Dunhuang); "
        f"Places2 also at {PLACES2_RAW_URL} (git blob f411c3d8); "
        "CelebA also in the tree of tsingqguo/misf commit d0f292f, checkpoints/celebA_InpaintingModel_gen.pth "
        "(git blob ba33d58c). Check a download with `git hash-object FILE`."
    ),
    note=(
        "Pick the file with dataset=celeba|places2|dunhuang (default, and for any other dataset: celeba) "
        "or pass the file itself. "
        "The Dunhuang file's name is not published: 'dunhuang_InpaintingModel_gen.pth' is this harness's "
        "convention (unconfirmed); rename the downloaded file to it."
    ),
)

#: Harness method name -> generator variant (misf/networks.py VARIANTS).
METHOD_VARIANTS = {
    "misf": "misf",
    "misf-img-filter": "img-filter",
    "misf-sem-filter-f1": "sem-filter-f1",
    "misf-sem-filter-f2": "sem-filter-f2",
    "misf-sem-filter-f3": "sem-filter-f3",
    "misf-en-decoder": "en-decoder",
    "misf-en-decoder-filter": "en-decoder-filter",
}


def weight_file_name(method: str, dataset: str | None = None) -> str:
    """File looked up in a weights folder: the official name for misf, ``<method>_<dataset>_gen.pth`` otherwise.

    Datasets without their own weights (the harness's sample or folder datasets) use CelebA's.
    """
    dataset = dataset if dataset in DATASETS else DATASETS[0]
    return OFFICIAL_FILES[dataset] if method == "misf" else f"{method}_{dataset}_gen.pth"


def _variant_weights(method: str) -> WeightsInfo:
    return WeightsInfo(
        method=method,
        file_names=tuple(weight_file_name(method, dataset) for dataset in DATASETS),
        source=(
            "none: the MISF authors released no code or weights for this ablation variant (docs/misf.md §15). "
            f"Train it with `harness train --method {method}` and keep the result as "
            f"{method}_<dataset>_gen.pth, a torch.save'd {{'iteration': int, 'generator': state_dict}}."
        ),
    )


WEIGHTS: dict[str, WeightsInfo] = {
    method: MISF_WEIGHTS if method == "misf" else _variant_weights(method) for method in METHOD_VARIANTS
}
