"""Mask sets by name: the registry of mask sources and reading a set's mask files.

The sources themselves (what a set is, where its files are) live in :mod:`masks.sources`; a
plug-in adds one with :func:`register_mask_source` or an entry point in the group
``inpainting_harness.mask_sources``.
"""
from __future__ import annotations

import os

import numpy as np

from harness.data.images import prepare_mask, read_mask
from harness.environment import Environment
from harness.registry import MASK_SOURCES
from masks.sources import FileMaskSet, MaskFile, MaskSource


def register_mask_source(source: MaskSource) -> MaskSource:
    return MASK_SOURCES.add(source.name, source)


def mask_sources() -> dict[str, MaskSource]:
    """Every registered mask source, plug-ins included."""
    return MASK_SOURCES.all()


def mask_source(name: str) -> MaskSource:
    return MASK_SOURCES.get(name)


def load_mask_set(name: str, root: str | os.PathLike | None = None, hole_is_white: bool = True) -> FileMaskSet:
    """The files of a pool mask set by name."""
    return mask_source(name).files(root, hole_is_white, Environment.read().roots)


def load_mask(mask_set: FileMaskSet, mask: MaskFile, size: int, resize_method: str = "pil-bilinear") -> np.ndarray:
    """One file of the set at evaluation size, binarised by the set's rule (1 = hole)."""
    return prepare_mask(read_mask(mask.path), size, mask_set.threshold, mask_set.hole_is_white, resize_method)
