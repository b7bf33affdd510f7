"""The metric names and their better direction (no heavy imports: tables and statistics use it)."""

HIGHER_IS_BETTER: dict[str, bool] = {"PSNR": True, "SSIM": True, "L1": False, "LPIPS": False}
METRICS: tuple[str, ...] = tuple(HIGHER_IS_BETTER)
