"""The methods that ship with the harness, as a table of lazy targets.

Nothing here is imported until a method is used: ``target`` is the factory and ``weights``
where its official weights are described (a WeightsInfo, a zero-argument function returning
one, or a mapping from method name to one), both as ``"module:attribute"``.
"""
from __future__ import annotations

from typing import NamedTuple


class Builtin(NamedTuple):
    name: str
    target: str
    description: str
    weights: str | None = None
    tags: tuple[str, ...] = ()


_MISF = {
    "misf": "MISF (Li et al. CVPR 2022), official generator; option dataset=celeba|places2|dunhuang",
    "misf-img-filter": "MISF ablation Img-Filter (Table 3): filters the corrupted image only",
    "misf-sem-filter-f1": "MISF ablation Sem-Filter at F1 (Table 4)",
    "misf-sem-filter-f2": "MISF ablation Sem-Filter at F2 (Table 4)",
    "misf-sem-filter-f3": "MISF ablation Sem-Filter at F3 (Tables 3, 4)",
    "misf-en-decoder": "MISF ablation En-decoder (Table 3): no dynamic filtering",
    "misf-en-decoder-filter": "MISF ablation En-decoder-Filter (Table 3): image filtering of the output",
}

BUILTIN_METHODS: tuple[Builtin, ...] = (
    Builtin("telea", "baselines.classical:telea", "OpenCV Telea fast marching (radius 3)", tags=("classical",)),
    Builtin("navier-stokes", "baselines.classical:navier_stokes", "OpenCV Navier-Stokes (radius 3)", tags=("classical",)),
    Builtin("biharmonic", "baselines.classical:biharmonic", "scikit-image biharmonic inpainting", tags=("classical",)),
    *(
        Builtin(name, f"misf.predictor:{name.replace('-', '_')}", description, "misf.weights:WEIGHTS",
                ("misf", "misf-table") if name == "misf" else ("misf", "ablation"))
        for name, description in _MISF.items()
    ),
    Builtin("edgeconnect", "baselines.edgeconnect:edgeconnect",
            "EdgeConnect (Nazeri et al. 2019), official test path; option dataset=places2|celeba|psv",
            "baselines.weights:edgeconnect_weights", ("baseline", "misf-table")),
    Builtin("ctsdg", "baselines.ctsdg:ctsdg",
            "CTSDG (Guo et al. ICCV 2021) at 256x256; edges from the ground truth as upstream; option dataset=places2|celeba|psv",
            "baselines.weights:ctsdg_weights", ("baseline", "misf-table", "reads-ground-truth")),
    Builtin("rfrnet", "baselines.rfrnet:rfrnet",
            "RFR-Net (Li et al. CVPR 2020), official test path at 256; option dataset=celeba|psv (no Places2 weights exist)",
            "baselines.weights:rfrnet_weights", ("baseline", "misf-table")),
    Builtin("pconv", "baselines.pconv:pconv",
            "PConv (Liu et al. ECCV 2018) as released by OpenMMLab, mmagic test path (BGR); option dataset=places2|celeba",
            "baselines.weights:pconv_weights", ("baseline", "misf-table")),
    Builtin("jpgnet", "baselines.jpgnet:jpgnet",
            "JPGNet (Guo et al. ACM MM 2021), edge_kpn_fusion fusion_test at 256; option dataset=places2|celeba|dunhuang",
            "baselines.weights:jpgnet_weights", ("baseline", "misf-table")),
    Builtin("structureflow", "baselines.structureflow:structureflow",
            "StructureFlow (Ren et al. ICCV 2019), official test path; RTV structure of the ground truth as upstream "
            "(option structure_from=image to smooth the hole-zeroed image, rtv_settings=function-defaults|script); "
            "option dataset=places2|celeba|psv",
            "baselines.weights:structureflow_weights", ("baseline", "misf-table", "reads-ground-truth")),
    Builtin("lama", "baselines.lama:lama",
            "big-LaMa (Suvorov et al. WACV 2022), Places2-trained, symmetric padding to a multiple of 8",
            "baselines.weights:LAMA_WEIGHTS", ("baseline",)),
    Builtin("migan", "baselines.migan:migan",
            "MI-GAN (Sargsyan et al. ICCV 2023), official evaluation path, deterministic; runs at its weights' "
            "resolution (256 or 512); options dataset=places2|ffhq, resolution=256|512 pick the released file",
            "baselines.weights:migan_weights", ("baseline",)),
    Builtin("comodgan", "baselines.comodgan:comodgan",
            "Co-Mod-GAN (Zhao et al. ICLR 2021) through MI-GAN's torch port at 256 or 512; reseeded per one-item "
            "forward (options seed=0, noise_mode=random|const|none; dataset=, resolution= pick the released file)",
            "baselines.weights:comodgan_weights", ("baseline",)),
)
