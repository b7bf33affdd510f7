"""The baselines' entries in the harness registries: one line per method, lazy targets only.

The harness imports this module when a registry is first read (:data:`harness.registry.BUILTIN_PLUGINS`);
a new baseline is its own module(s), one line here and a test. MAT's published Places-512 table is
a report view (baselines.published_mat).
"""
from harness.registry import REPORT_VIEWS, CodeVersion, register_method

_W = "baselines.weights"


def _version(name: str, predictor: str, *modules: str) -> CodeVersion:
    """``predictor``'s explicit code version (in the first module), covering ``modules``."""
    return CodeVersion(name, f"{modules[0]}:{predictor}.code_version", modules)


CLASSICAL = _version("classical methods", "PerImagePredictor", "baselines.classical")

register_method("telea", "baselines.classical:telea", description="OpenCV Telea fast marching (radius 3)",
                tags=("classical",), code_version=CLASSICAL)
register_method("navier-stokes", "baselines.classical:navier_stokes", description="OpenCV Navier-Stokes (radius 3)",
                tags=("classical",), code_version=CLASSICAL)
register_method("biharmonic", "baselines.classical:biharmonic", description="scikit-image biharmonic inpainting",
                tags=("classical",), code_version=CLASSICAL)
register_method("edgeconnect", "baselines.edgeconnect:edgeconnect",
                description="EdgeConnect (Nazeri et al. 2019), official test path; option dataset=places2|celeba|psv",
                weights=f"{_W}:edgeconnect_weights", tags=("baseline", "misf-table"),
                code_version=_version("edgeconnect", "EdgeConnectPredictor", "baselines.edgeconnect",
                                      "baselines.edgeconnect_networks"))
register_method("ctsdg", "baselines.ctsdg:ctsdg",
                description="CTSDG (Guo et al. ICCV 2021) at 256x256; edges from the ground truth as upstream; "
                "option dataset=places2|celeba|psv",
                weights=f"{_W}:ctsdg_weights", tags=("baseline", "misf-table", "reads-ground-truth"),
                code_version=_version("ctsdg", "CTSDGPredictor", "baselines.ctsdg", "baselines.ctsdg_networks"))
register_method("rfrnet", "baselines.rfrnet:rfrnet",
                description="RFR-Net (Li et al. CVPR 2020), official test path at 256; option dataset=celeba|psv "
                "(no Places2 weights exist)",
                weights=f"{_W}:rfrnet_weights", tags=("baseline", "misf-table"),
                code_version=_version("rfrnet", "RFRNetPredictor", "baselines.rfrnet", "baselines.rfrnet_networks"))
register_method("pconv", "baselines.pconv:pconv",
                description="PConv (Liu et al. ECCV 2018) as released by OpenMMLab, mmagic test path (BGR); "
                "option dataset=places2|celeba",
                weights=f"{_W}:pconv_weights", tags=("baseline", "misf-table"),
                code_version=_version("pconv", "PConvPredictor", "baselines.pconv", "baselines.pconv_networks"))
register_method("jpgnet", "baselines.jpgnet:jpgnet",
                description="JPGNet (Guo et al. ACM MM 2021), edge_kpn_fusion fusion_test at 256; "
                "option dataset=places2|celeba|dunhuang",
                weights=f"{_W}:jpgnet_weights", tags=("baseline", "misf-table"),
                code_version=_version("jpgnet", "JPGNetPredictor", "baselines.jpgnet", "baselines.jpgnet_networks",
                                      "baselines.edgeconnect", "baselines.edgeconnect_networks"))
register_method("structureflow", "baselines.structureflow:structureflow",
                description="StructureFlow (Ren et al. ICCV 2019), official test path; RTV structure of the ground "
                "truth as upstream (option structure_from=image to smooth the hole-zeroed image, "
                "rtv_settings=function-defaults|script); option dataset=places2|celeba|psv",
                weights=f"{_W}:structureflow_weights", tags=("baseline", "misf-table", "reads-ground-truth"),
                code_version=_version("structureflow", "StructureFlowPredictor", "baselines.structureflow",
                                      "baselines.structureflow_networks", "baselines.rtv"))
register_method("lama", "baselines.lama:lama",
                description="big-LaMa (Suvorov et al. WACV 2022), Places2-trained, symmetric padding to a multiple of 8",
                weights=f"{_W}:LAMA_WEIGHTS", tags=("baseline",),
                code_version=_version("lama", "LamaPredictor", "baselines.lama", "baselines.lama_networks"))
register_method("mat", "baselines.mat:mat",
                description="MAT (Li et al. CVPR 2022) at 512 or 256 (from the weights), generate_image.py path; "
                "random at test time, seeded per item (options seed=240, noise_mode=const at 512 / random at 256); "
                "CC BY-NC 4.0 + NVIDIA terms",
                weights=f"{_W}:MAT_WEIGHTS", tags=("baseline",),
                code_version=_version("mat", "MATPredictor", "baselines.mat", "baselines.mat_networks",
                                      "baselines.stylegan_ops", "baselines.safe_pickle"))
register_method("migan", "baselines.migan:migan",
                description="MI-GAN (Sargsyan et al. ICCV 2023), official evaluation path, deterministic; runs at its "
                "weights' resolution (256 or 512); options dataset=places2|ffhq, resolution=256|512 pick the released file",
                weights=f"{_W}:migan_weights", tags=("baseline",),
                code_version=_version("migan", "MIGANPredictor", "baselines.migan", "baselines.migan_networks"))
register_method("comodgan", "baselines.comodgan:comodgan",
                description="Co-Mod-GAN (Zhao et al. ICLR 2021) through MI-GAN's torch port at 256 or 512; reseeded per "
                "one-item forward (options seed=0, noise_mode=random|const|none; dataset=, resolution= pick the released file)",
                weights=f"{_W}:comodgan_weights", tags=("baseline",),
                code_version=_version("comodgan", "CoModGANPredictor", "baselines.comodgan",
                                      "baselines.comodgan_networks", "baselines.migan"))

REPORT_VIEWS.add("paper-mat-places512", "baselines.published_mat:view", published=True,  # published values without runs
                 alias=("--paper", {"choices": ["mat-places512"], "help": "--view paper-TABLE"}, "paper-{}"),
                 help="MAT's published Places-512 table (FID, P-IDS, U-IDS; its README) beside runs of "
                 "--protocol mat-places512-small/large")
