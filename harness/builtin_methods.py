"""Registrations of the methods that ship with the harness (lazy: nothing heavy is imported)."""
from harness.registry import register_method

# Classical methods: no weights.
register_method("telea", "baselines.classical:telea", description="OpenCV Telea fast marching (radius 3)", tags=("classical",))
register_method("navier-stokes", "baselines.classical:navier_stokes", description="OpenCV Navier-Stokes (radius 3)", tags=("classical",))
register_method("biharmonic", "baselines.classical:biharmonic", description="scikit-image biharmonic inpainting", tags=("classical",))

# --- MISF family (misf/) ---

# --- EdgeConnect, CTSDG (baselines/) ---

# --- RFR-Net, LaMa (baselines/) ---
