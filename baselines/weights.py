"""Where each baseline's official weights live.

Kept free of model code so that listing methods and printing "missing weights" messages
stays cheap. Each section belongs to the baselines named in its heading.
"""
from __future__ import annotations

from pathlib import Path

from harness.checkpoints import WeightsInfo, weights_dir

# --- EdgeConnect, CTSDG ---

#: Dataset names accepted by the ``dataset`` option of edgeconnect, ctsdg and structureflow (psv = Paris StreetView).
DATASETS = ("places2", "celeba", "psv")

EDGECONNECT_FILES = ("EdgeModel_gen.pth", "InpaintingModel_gen.pth")
_EDGECONNECT_DRIVE = {
    "places2": "158ch9Psjop0mQEdeIp9DKjrYIGTDsZKN",
    "celeba": "13JgMA5sKMYgRwHBp4f7PBc5orNJ_Cv-p",
    "psv": "1hMGVz6Ck3erpP3BRNzG90HNCJl85kveN",
}


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset '{dataset}'; choose one of {', '.join(DATASETS)}, or pass --checkpoint")


def weights_dataset(dataset: str, checkpoint: object) -> str:
    """The dataset whose weights are meant: with an explicit checkpoint any evaluation dataset
    goes (the name then only labels messages), without one it must have released weights."""
    return dataset if dataset in DATASETS or checkpoint is None else DATASETS[0]


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


# --- RFR-Net, LaMa ---

RFRNET_DRIVE = "https://drive.google.com/drive/folders/1EbRSL6SlJqeMliT9qU8V5g0idJqvirZr"
#: Official RFR-Net file per harness dataset name (README Drive folder; names as in issue #42).
RFRNET_FILES = {"celeba": "checkpoint_celeba.pth", "psv": "checkpoint_paris.pth"}


def rfrnet_weights(dataset: str = "celeba") -> WeightsInfo:
    """jingyuanli001/RFR-Inpainting's generator for one dataset; only CelebA and Paris were released."""
    released = ", ".join(f"{name} ({file})" for name, file in RFRNET_FILES.items())
    return WeightsInfo(
        method=f"rfrnet ({dataset})",
        file_names=(RFRNET_FILES.get(dataset, f"checkpoint_{dataset}.pth"),),
        source=f"{RFRNET_DRIVE} (folder RFR_Net_pretrained/, jingyuanli001/RFR-Inpainting README)",
        note=(
            f"Released: {released}. Places2 weights were promised but never released (issues #19, #33): "
            "for any other dataset pass a checkpoint file of your own, which is then recorded by its hash. License MIT."
        ),
    )


def rfrnet_dir() -> Path:
    return weights_dir() / "rfrnet"


#: Hugging Face copy of big-lama/models/best.ckpt (camenduru/big-lama keeps the official tree unzipped).
LAMA_HF = "hf://camenduru/big-lama/big-lama/models/best.ckpt"

LAMA_WEIGHTS = WeightsInfo(
    method="lama (big-lama)",
    file_names=("best.ckpt", "models/best.ckpt"),
    source=(
        "big-lama/models/best.ckpt in https://drive.google.com/drive/folders/1B2x7eQDgecTL0oh3LSIBDGj0fTxs6Ips "
        "(advimman/lama README). Hugging Face copies: --checkpoint " + LAMA_HF + ", hf://akhaliq/lama/best.ckpt, "
        "or big-lama.zip from https://huggingface.co/smartywu/big-lama (unzip, pass the big-lama folder)"
    ),
    note="A folder may be the unzipped big-lama/ (holding models/best.ckpt). License Apache-2.0.",
)


def lama_dir() -> Path:
    return weights_dir() / "lama"


# --- PConv, JPGNet ---

PCONV_URL = "https://download.openmmlab.com/mmediting/inpainting/pconv/"
#: OpenMMLab's released stage-2 PConv generators per harness dataset name.
PCONV_FILES = {
    "places2": "pconv_256x256_stage2_4x2_places_20200619-1ffed0e8.pth",
    "celeba": "pconv_256x256_stage2_4x2_celeba_20200619-860f8b95.pth",
}


def pconv_weights(dataset: str = "places2") -> WeightsInfo:
    """OpenMMLab mmediting/mmagic's PConv (NVIDIA released no inpainting weights)."""
    released = ", ".join(f"{name} ({PCONV_URL}{file})" for name, file in PCONV_FILES.items())
    return WeightsInfo(
        method=f"pconv ({dataset})",
        file_names=(PCONV_FILES.get(dataset, f"pconv_{dataset}.pth"),),
        source=f"{PCONV_URL}{PCONV_FILES.get(dataset, PCONV_FILES['places2'])} (open-mmlab/mmagic configs/partial_conv)",
        note=(
            f"Released: {released}; for any other dataset pass a checkpoint file of your own. Their published "
            "metrics (Places365-val PSNR 22.762 / SSIM 0.801, CelebA-val 25.404 / 0.853) come from random "
            "free-form masks and random 384x384 crops resized to 256 (the test pipeline is the training "
            "pipeline), not from fixed masks. License Apache-2.0."
        ),
    )


def pconv_dir() -> Path:
    return weights_dir() / "pconv"


JPGNET_FILES = ("EdgeModel_gen.pth", "InpaintingModel_gen.pth", "1_15_KPN_bs_1_.pth", "1_kpn_dunhuang_edge_smart.pth")
_JPGNET_DRIVE = {
    "celeba": "1Bd6-J4IkB2BvRu1VlcwRYqrzebdd6MZc",
    "places2": "1U6tSwMh2J_Tr_vR9BKMvCkEf0SITx1JE",
    "dunhuang": "1DaPOfLNscra1mOwdUEUNIYbMqcoz4RRZ",
}
#: Dataset names accepted by jpgnet's ``dataset`` option.
JPGNET_DATASETS = tuple(_JPGNET_DRIVE)


def jpgnet_weights(dataset: str = "places2") -> WeightsInfo:
    """tsingqguo/jpgnet's edge_kpn_fusion files for one dataset (a Drive folder per dataset)."""
    if dataset not in _JPGNET_DRIVE:
        raise ValueError(f"Unknown dataset '{dataset}'; choose one of {', '.join(_JPGNET_DRIVE)}, or pass --checkpoint")
    return WeightsInfo(
        method=f"jpgnet ({dataset})",
        file_names=JPGNET_FILES,
        source=f"https://drive.google.com/drive/folders/{_JPGNET_DRIVE[dataset]} (tsingqguo/jpgnet)",
        note=(
            f"Pass the folder holding all four files, or put them in $HARNESS_WEIGHTS/jpgnet/{dataset}/. "
            "The KPN files keep the default names of edge_kpn_fusion's kpn/config.py. The repository has no "
            "license (all rights reserved): do not redistribute these weights."
        ),
    )


def jpgnet_dir(dataset: str) -> Path:
    return weights_dir() / "jpgnet" / dataset


# --- StructureFlow ---

STRUCTUREFLOW_FILES = ("latest_net_s_gen.pth", "latest_net_f_gen.pth")
#: Dataset -> Google Drive folder of the official README (places2, celeba, psv = Paris StreetView).
_STRUCTUREFLOW_DRIVE = {
    "places2": "1K7U6fYthC4Acsx0GBde5iszHJWymyv1A",
    "celeba": "1PrLgcEd964etxZcHIOE93uUONB9-b6pI",
    "psv": "18AQpgsYZtA_eL-aJb6n8-geWLdihwXAi",
}


def structureflow_weights(dataset: str = "places2") -> WeightsInfo:
    """RenYurui/StructureFlow's two generators (raw state_dicts) for one dataset."""
    _check_dataset(dataset)
    return WeightsInfo(
        method=f"structureflow ({dataset})",
        file_names=STRUCTUREFLOW_FILES,
        source=f"https://drive.google.com/drive/folders/{_STRUCTUREFLOW_DRIVE[dataset]} (RenYurui/StructureFlow README)",
        note=(
            f"Pass the folder holding both files (latest_net_f_dis.pth may sit beside them), or put them in "
            f"$HARNESS_WEIGHTS/structureflow/{dataset}/. License CC BY-NC 4.0."
        ),
    )


def structureflow_dir(dataset: str) -> Path:
    return weights_dir() / "structureflow" / dataset


# --- MAT ---

#: The authors' OneDrive folder (fenglinglwb/MAT README, "Quick Test"); it has no direct file URLs.
MAT_ONEDRIVE = ("https://mycuhk-my.sharepoint.com/:f:/g/personal/1155137927_link_cuhk_edu_hk/"
                "EuY30ziF-G5BvwziuHNFzDkBVC6KBPRg69kCeHIu-BXORA?e=7OwJyE")
#: IOPaint's state-dict re-host of the Places-512 (8M images) generator, MD5 8ca927835fa3f5e21d65ffcb165377ed.
MAT_IOPAINT_URL = "https://github.com/Sanster/models/releases/download/add_mat/Places_512_FullData_G.pth"

MAT_WEIGHTS = WeightsInfo(
    method="mat",
    file_names=("Places_512_FullData.pkl", "CelebA-HQ.pkl", "Places_512_FullData_G.pth"),
    source=(
        f"{MAT_ONEDRIVE} (fenglinglwb/MAT README: Places_512_FullData.pkl, the Places-512 1.8M-image model, "
        f"CelebA-HQ.pkl, the FFHQ-512 and CelebA-HQ-256 models); state-dict re-host {MAT_IOPAINT_URL}"
    ),
    note=(
        "Pass the .pkl itself (its G_ema is read without running the code it carries), a state-dict .pth, or a "
        ".safetensors re-host (fp16 copies are cast to float32 and marked as such); the resolution (512 or 256) "
        "comes from the weights. License CC BY-NC 4.0, the StyleGAN2-ADA parts under NVIDIA's source-code terms: "
        "never redistribute these weights."
    ),
)


def mat_dir() -> Path:
    return weights_dir() / "mat"


# --- MI-GAN, Co-Mod-GAN (MI-GAN's torch port) ---

#: (dataset, resolution) of every released file, named ``{migan|comodgan}_{resolution}_{dataset}.pt``.
PICSART_RELEASES = (("places2", 256), ("places2", 512), ("ffhq", 256))
_PICSART_DRIVE = {
    "migan": "https://drive.google.com/drive/folders/1xNtvN2lto0p5yFKOEEg9RioMjGrYM74w",
    "comodgan": "https://drive.google.com/drive/folders/1VATyNQQJW2VpuHND02bc-3_4ukJMHQ44",
}
_PICSART_LICENSE = {
    "migan": "License MIT (Picsart-AI-Research/MI-GAN).",
    "comodgan": (
        "The port and these weights: MIT (Picsart-AI-Research/MI-GAN); the original Co-Mod-GAN "
        "(zsyzzsoft/co-mod-gan, TensorFlow pickles the port does not read) is BSD-style with NVIDIA's StyleGAN2 terms."
    ),
}


def picsart_file(method: str, dataset: str, resolution: int) -> str:
    return f"{method}_{resolution}_{dataset}.pt"


def _picsart_weights(method: str, dataset: str, resolution: int) -> WeightsInfo:
    """One released .pt (a plain state dict) of MI-GAN or of the Co-Mod-GAN port, from the MI-GAN README's Drive folders."""
    released = ", ".join(picsart_file(method, *release) for release in PICSART_RELEASES)
    return WeightsInfo(
        method=f"{method} ({dataset}, {resolution})",
        file_names=(picsart_file(method, dataset, resolution),),
        source=f"{_PICSART_DRIVE[method]} (Picsart-AI-Research/MI-GAN README)",
        note=(
            f"Released: {released}. Pass the file itself, or put it in $HARNESS_WEIGHTS/{method}/ and choose it "
            f"with the options dataset= and resolution=. " + _PICSART_LICENSE[method]
        ),
    )


def migan_weights(dataset: str = "places2", resolution: int = 256) -> WeightsInfo:
    return _picsart_weights("migan", dataset, resolution)


def comodgan_weights(dataset: str = "places2", resolution: int = 256) -> WeightsInfo:
    return _picsart_weights("comodgan", dataset, resolution)


def picsart_dir(method: str) -> Path:
    return weights_dir() / method
