"""Registrations of the methods that ship with the harness (lazy: nothing heavy is imported)."""
from harness.registry import register_method

# Classical methods: no weights.
register_method("telea", "baselines.classical:telea", description="OpenCV Telea fast marching (radius 3)", tags=("classical",))
register_method("navier-stokes", "baselines.classical:navier_stokes", description="OpenCV Navier-Stokes (radius 3)", tags=("classical",))
register_method("biharmonic", "baselines.classical:biharmonic", description="scikit-image biharmonic inpainting", tags=("classical",))

# --- MISF family (misf/) ---
from misf.weights import WEIGHTS as MISF_WEIGHTS  # noqa: E402  (no model code)

_MISF_FAMILY = {
    "misf": ("misf", "MISF (Li et al. CVPR 2022), official generator; option dataset=celeba|places2|dunhuang"),
    "misf-img-filter": ("misf_img_filter", "MISF ablation Img-Filter (Table 3): filters the corrupted image only"),
    "misf-sem-filter-f1": ("misf_sem_filter_f1", "MISF ablation Sem-Filter at F1 (Table 4)"),
    "misf-sem-filter-f2": ("misf_sem_filter_f2", "MISF ablation Sem-Filter at F2 (Table 4)"),
    "misf-sem-filter-f3": ("misf_sem_filter_f3", "MISF ablation Sem-Filter at F3 (Tables 3, 4)"),
    "misf-en-decoder": ("misf_en_decoder", "MISF ablation En-decoder (Table 3): no dynamic filtering"),
    "misf-en-decoder-filter": ("misf_en_decoder_filter", "MISF ablation En-decoder-Filter (Table 3): image filtering of the output"),
}
for _name, (_factory, _description) in _MISF_FAMILY.items():
    register_method(
        _name,
        f"misf.predictor:{_factory}",
        description=_description,
        weights=MISF_WEIGHTS[_name],
        tags=("misf", "misf-table") if _name == "misf" else ("misf", "ablation"),
    )

# --- EdgeConnect, CTSDG (baselines/) ---
from baselines.weights import ctsdg_weights, edgeconnect_weights  # noqa: E402  (no model code)

register_method(
    "edgeconnect",
    "baselines.edgeconnect:edgeconnect",
    description="EdgeConnect (Nazeri et al. 2019), official test path; option dataset=places2|celeba|psv",
    weights=edgeconnect_weights(),
    tags=("baseline", "misf-table"),
)
register_method(
    "ctsdg",
    "baselines.ctsdg:ctsdg",
    description="CTSDG (Guo et al. ICCV 2021) at 256x256; edges from the ground truth as upstream; option dataset=places2|celeba|psv",
    weights=ctsdg_weights(),
    tags=("baseline", "misf-table", "reads-ground-truth"),
)

# --- RFR-Net, LaMa (baselines/) ---
from baselines.weights import LAMA_WEIGHTS, rfrnet_weights  # noqa: E402  (no model code)

register_method(
    "rfrnet",
    "baselines.rfrnet:rfrnet",
    description="RFR-Net (Li et al. CVPR 2020), official test path at 256; option dataset=celeba|psv (no Places2 weights exist)",
    weights=rfrnet_weights(),
    tags=("baseline", "misf-table"),
)
register_method(
    "lama",
    "baselines.lama:lama",
    description="big-LaMa (Suvorov et al. WACV 2022), Places2-trained, symmetric padding to a multiple of 8",
    weights=LAMA_WEIGHTS,
    tags=("baseline",),
)
