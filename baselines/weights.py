"""Where each baseline's official weights live.

Kept free of model code so that listing methods and printing "missing weights" messages
stays cheap. Each section belongs to the baselines named in its heading.
"""
from __future__ import annotations

from pathlib import Path

from harness.checkpoints import WeightsInfo, weights_dir

# --- EdgeConnect, CTSDG ---

#: Dataset names accepted by the ``dataset`` option of edgeconnect and ctsdg (psv = Paris StreetView).
DATASETS = ("places2", "celeba", "psv")

EDGECONNECT_FILES = ("EdgeModel_gen.pth", "InpaintingModel_gen.pth")
_EDGECONNECT_DRIVE = {
    "places2": "158ch9Psjop0mQEdeIp9DKjrYIGTDsZKN",
    "celeba": "13JgMA5sKMYgRwHBp4f7PBc5orNJ_Cv-p",
    "psv": "1hMGVz6Ck3erpP3BRNzG90HNCJl85kveN",
}


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset '{dataset}'; choose one of {', '.join(DATASETS)}")


def edgeconnect_weights(dataset: str = "places2") -> WeightsInfo:
    """knazeri/edge-connect's generators for one dataset (a Drive folder per dataset)."""
    _check_dataset(dataset)
    return WeightsInfo(
        method=f"edgeconnect ({dataset})",
        file_names=EDGECONNECT_FILES,
        source=f"https://drive.google.com/drive/folders/{_EDGECONNECT_DRIVE[dataset]} (knazeri/edge-connect README)",
        note=(
            f"Pass the folder holding both files, or put them in $HARNESS_WEIGHTS/edgeconnect/{dataset}/. "
            "License CC BY-NC 4.0."
        ),
    )


def edgeconnect_dir(dataset: str) -> Path:
    """Default folder of one dataset's EdgeConnect files (both datasets use the same file names)."""
    return weights_dir() / "edgeconnect" / dataset


def ctsdg_weights(dataset: str = "places2") -> WeightsInfo:
    """xiefan-guo/ctsdg's checkpoint for one dataset: one .pt file per dataset in one Drive folder.

    The names of the released files are unconfirmed, so the harness looks for its own name
    ``ctsdg_<dataset>.pt``; a checkpoint passed as a file path may have any name.
    """
    _check_dataset(dataset)
    return WeightsInfo(
        method=f"ctsdg ({dataset})",
        file_names=(f"ctsdg_{dataset}.pt",),
        source="https://drive.google.com/drive/folders/1lcATVc_U7plyEI__j5NWKCmKV_MNuhwq (xiefan-guo/ctsdg README)",
        note=(
            f"Pass the .pt file itself, or save it as $HARNESS_WEIGHTS/ctsdg/ctsdg_{dataset}.pt "
            "(the names of the released files are unconfirmed). License MIT."
        ),
    )


def ctsdg_dir() -> Path:
    return weights_dir() / "ctsdg"
