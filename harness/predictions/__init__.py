"""Predictions made elsewhere, scored here: ``--methods LABEL=predictions:DIR``.

The spelling is recognised before the plug-in syntax ``pkg.module:factory`` (a module named
``predictions`` cannot be a plug-in). This module imports nothing heavy: the command line's
checks read it before torch loads; :mod:`harness.predictions.method` is the predictor.
"""
from __future__ import annotations

KIND = "predictions"


def predictions_folder(method: str) -> str | None:
    """The folder of a ``predictions:DIR`` method (``""`` when none is given), else None."""
    kind, sep, folder = method.partition(":")
    return folder.strip() if sep and kind.strip() == KIND else None
