"""Registrations of the methods that ship with the harness (lazy: nothing heavy is imported)."""
from harness.registry import register_method

# Classical methods: no weights.
register_method("telea", "baselines.classical:telea", description="OpenCV Telea fast marching (radius 3)", tags=("classical",))
register_method("navier-stokes", "baselines.classical:navier_stokes", description="OpenCV Navier-Stokes (radius 3)", tags=("classical",))
register_method("biharmonic", "baselines.classical:biharmonic", description="scikit-image biharmonic inpainting", tags=("classical",))

# --- MISF family (misf/) ---

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
